#include "decode_kernels.h"

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define APO_VECTORISED 1
#else
#define APO_VECTORISED 0
#endif

int apo_decode_kernels_vectorised(void) { return APO_VECTORISED; }

#if APO_VECTORISED

// e^x for 8 floats (x ≤ 0 here: scores minus their maximum): x = n·ln2 + r with |r| ≤ ln2/2, e^r
// by its degree-6 Taylor polynomial (relative error < 2e-7 on that interval, about two ulps of
// expf), 2^n through the exponent bits. Below −87 the result flushes to 0, as expf underflows.
static inline __m256 exp_nonpositive(__m256 x) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f), ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, x);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float horizontal_max(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// head_dim a multiple of 8 (the caller falls back to the portable loop otherwise).
static void attention_head(const float *q, const float *keys, const float *values, size_t length,
                           size_t kv_dim, size_t head_dim, float scale, float *out, float *scores) {
    float largest = -INFINITY;
    for (size_t t = 0; t < length; t++) {
        const float *k = keys + t * kv_dim;
        __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(q), _mm256_loadu_ps(k));
        for (size_t i = 8; i < head_dim; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
        float s = horizontal_sum(acc) * scale;
        scores[t] = s;
        largest = s > largest ? s : largest;
    }
    __m256 sums = _mm256_setzero_ps(), top = _mm256_set1_ps(largest);
    size_t t = 0;
    for (; t + 8 <= length; t += 8) {
        __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(scores + t), top));
        _mm256_storeu_ps(scores + t, e);
        sums = _mm256_add_ps(sums, e);
    }
    float sum = horizontal_sum(sums);
    for (; t < length; t++) {
        scores[t] = expf(scores[t] - largest);
        sum += scores[t];
    }
    // Weighted values: 64 output dimensions at a time held in 8 registers while the positions
    // stream past, so each cached value row is read once.
    __m256 w = _mm256_set1_ps(1.0f / sum);
    for (size_t c = 0; c < head_dim; c += 64) {
        size_t lanes = head_dim - c < 64 ? (head_dim - c) / 8 : 8;
        __m256 acc[8];
        for (size_t j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (size_t p = 0; p < length; p++) {
            __m256 weight = _mm256_set1_ps(scores[p]);
            const float *v = values + p * kv_dim + c;
            if (lanes == 8) {
                for (size_t j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(v + 8 * j), acc[j]);
            } else {
                for (size_t j = 0; j < lanes; j++) acc[j] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(v + 8 * j), acc[j]);
            }
        }
        for (size_t j = 0; j < lanes; j++) _mm256_storeu_ps(out + c + 8 * j, _mm256_mul_ps(acc[j], w));
    }
}

#endif

static void attention_head_portable(const float *q, const float *keys, const float *values, size_t length,
                                    size_t kv_dim, size_t head_dim, float scale, float *out, float *scores) {
    float largest = -INFINITY;
    for (size_t t = 0; t < length; t++) {
        float s = 0;
        for (size_t i = 0; i < head_dim; i++) s += q[i] * keys[t * kv_dim + i];
        scores[t] = s * scale;
        largest = scores[t] > largest ? scores[t] : largest;
    }
    float sum = 0;
    for (size_t t = 0; t < length; t++) {
        scores[t] = expf(scores[t] - largest);
        sum += scores[t];
    }
    for (size_t i = 0; i < head_dim; i++) out[i] = 0;
    for (size_t t = 0; t < length; t++) {
        float w = scores[t] / sum;
        for (size_t i = 0; i < head_dim; i++) out[i] += w * values[t * kv_dim + i];
    }
}

void apo_attention_row(const float *q, const float *keys, const float *values, size_t length,
                       size_t kv_dim, size_t head_dim, size_t group_size, size_t head_begin, size_t head_end,
                       float scale, float *out, float *scores) {
    for (size_t h = head_begin; h < head_end; h++) {
        size_t kv = (h / group_size) * head_dim;
#if APO_VECTORISED
        if (head_dim % 8 == 0) {
            attention_head(q + h * head_dim, keys + kv, values + kv, length, kv_dim, head_dim, scale,
                           out + h * head_dim, scores);
            continue;
        }
#endif
        attention_head_portable(q + h * head_dim, keys + kv, values + kv, length, kv_dim, head_dim, scale,
                                out + h * head_dim, scores);
    }
}
