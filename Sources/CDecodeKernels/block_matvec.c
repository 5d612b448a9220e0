#include "decode_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define APO_VECTORISED 1
#else
#define APO_VECTORISED 0
#endif

size_t apo_block_bytes(enum apo_block_format format) {
    switch (format) {
    case APO_Q8_0: return 34;
    case APO_Q4_0: return 18;
    case APO_Q4_1: return 20;
    }
    return 0;
}

// IEEE half to float, exact for every pattern (the portable path; F16C does it in one instruction).
static float half_to_float(uint16_t h) {
#if APO_VECTORISED
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            uint32_t e = 127 - 15 + 1;
            while (!(mantissa & 0x400)) { mantissa <<= 1; e--; }
            bits = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
#endif
}

static float load_half(const uint8_t *p) { return half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

// Bytes of a block's codes, and where the codes start inside a file block.
static size_t code_bytes(enum apo_block_format format) { return format == APO_Q8_0 ? 32 : 16; }
static size_t code_offset(enum apo_block_format format) { return format == APO_Q4_1 ? 4 : 2; }

void apo_block_row_regroup(enum apo_block_format format, const uint8_t *file_row, uint8_t *kernel_row, size_t blocks) {
    size_t codes = code_bytes(format), block = apo_block_bytes(format);
    uint8_t *d = kernel_row + blocks * codes, *m = d + blocks * 2;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *p = file_row + b * block;
        memcpy(kernel_row + b * codes, p + code_offset(format), codes);
        memcpy(d + 2 * b, p, 2);
        if (format == APO_Q4_1) memcpy(m + 2 * b, p + 2, 2);
    }
}

void apo_quantize_activations(const float *x, size_t rows, size_t x_stride, size_t n,
                              int16_t *q, float *scale, float *sum) {
    size_t blocks = n / 32;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < blocks; b++) {
            const float *v = x + r * x_stride + b * 32;
            float largest = 0, total = 0;
            for (int j = 0; j < 32; j++) {
                float a = fabsf(v[j]);
                largest = a > largest ? a : largest;
                total += v[j];
            }
            float d = largest / 32767.0f, inverse = d > 0 ? 1.0f / d : 0.0f;
            int16_t *out = q + r * n + b * 32;
            for (int j = 0; j < 32; j++) out[j] = (int16_t)lrintf(v[j] * inverse);
            scale[r * blocks + b] = d;
            sum[r * blocks + b] = total;
        }
    }
}

// Largest row width (in blocks) the kernels take: the per-row scale products live on the stack.
#define APO_MAX_BLOCKS 4096

// scaled[b] = d[b] * scale[b], and the Q4_1 offset term sum_b m[b] * sum[b] (0 for other formats).
static float row_scales(enum apo_block_format format, const uint8_t *halves, size_t blocks,
                        const float *scale, const float *sum, float *scaled) {
    const uint8_t *m = halves + 2 * blocks;
    float offset = 0;
    size_t b = 0;
#if APO_VECTORISED
    __m256 offsets = _mm256_setzero_ps();
    for (; b + 8 <= blocks; b += 8) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(halves + 2 * b)));
        _mm256_storeu_ps(scaled + b, _mm256_mul_ps(d, _mm256_loadu_ps(scale + b)));
        if (format == APO_Q4_1) {
            __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(m + 2 * b)));
            offsets = _mm256_fmadd_ps(mv, _mm256_loadu_ps(sum + b), offsets);
        }
    }
    __m128 o = _mm_add_ps(_mm256_castps256_ps128(offsets), _mm256_extractf128_ps(offsets, 1));
    o = _mm_add_ps(o, _mm_movehl_ps(o, o));
    offset = _mm_cvtss_f32(_mm_add_ss(o, _mm_movehdup_ps(o)));
#endif
    for (; b < blocks; b++) {
        scaled[b] = load_half(halves + 2 * b) * scale[b];
        if (format == APO_Q4_1) offset += load_half(m + 2 * b) * sum[b];
    }
    return offset;
}

#if APO_VECTORISED

static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One block's 32 codes as two vectors of 16 int16 (weights 0-15 and 16-31, before the scale).
static inline __attribute__((always_inline)) void block_codes(enum apo_block_format format, const uint8_t *codes,
                                                              __m256i *w0, __m256i *w1) {
    const __m128i low_nibbles = _mm_set1_epi8(0x0f);
    if (format == APO_Q8_0) {
        *w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)codes));
        *w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(codes + 16)));
        return;
    }
    __m128i raw = _mm_loadu_si128((const __m128i *)codes);
    *w0 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, low_nibbles));
    *w1 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), low_nibbles));
    if (format == APO_Q4_0) {
        const __m256i eight = _mm256_set1_epi16(8);
        *w0 = _mm256_sub_epi16(*w0, eight);
        *w1 = _mm256_sub_epi16(*w1, eight);
    }
}

// One weight row against one activation row: 16-bit multiply-adds per block (vpmaddwd), one
// float FMA per block with the precomputed d·scale. Two accumulators (even and odd blocks) keep
// two FMA chains in flight. Always inlined with a constant `format`.
static inline __attribute__((always_inline)) float row_dot(enum apo_block_format format, const uint8_t *row,
                                                           size_t blocks, const int16_t *q, const float *scale,
                                                           const float *sum) {
    float scaled[APO_MAX_BLOCKS];
    size_t codes = code_bytes(format);
    float offset = row_scales(format, row + blocks * codes, blocks, scale, sum, scaled);
    __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        __m256i w0, w1, v0, v1;
        block_codes(format, row + b * codes, &w0, &w1);
        block_codes(format, row + (b + 1) * codes, &v0, &v1);
        const int16_t *x = q + b * 32;
        __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)x)),
                                     _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(x + 16))));
        __m256i r = _mm256_add_epi32(_mm256_madd_epi16(v0, _mm256_loadu_si256((const __m256i *)(x + 32))),
                                     _mm256_madd_epi16(v1, _mm256_loadu_si256((const __m256i *)(x + 48))));
        even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(scaled + b), even);
        odd = _mm256_fmadd_ps(_mm256_cvtepi32_ps(r), _mm256_broadcast_ss(scaled + b + 1), odd);
    }
    if (b < blocks) {
        __m256i w0, w1;
        block_codes(format, row + b * codes, &w0, &w1);
        const int16_t *x = q + b * 32;
        __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)x)),
                                     _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(x + 16))));
        even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(scaled + b), even);
    }
    return horizontal_sum(_mm256_add_ps(even, odd)) + offset;
}

#else

static float row_dot(enum apo_block_format format, const uint8_t *row, size_t blocks,
                     const int16_t *q, const float *scale, const float *sum) {
    float scaled[APO_MAX_BLOCKS];
    size_t codes = code_bytes(format);
    float total = row_scales(format, row + blocks * codes, blocks, scale, sum, scaled);
    for (size_t b = 0; b < blocks; b++) {
        const int16_t *x = q + b * 32;
        const uint8_t *c = row + b * codes;
        int32_t dot = 0;
        for (int j = 0; j < 16; j++) {
            if (format == APO_Q8_0) dot += (int8_t)c[j] * x[j] + (int8_t)c[j + 16] * x[j + 16];
            else if (format == APO_Q4_0) dot += ((c[j] & 0x0f) - 8) * x[j] + ((c[j] >> 4) - 8) * x[j + 16];
            else dot += (c[j] & 0x0f) * x[j] + (c[j] >> 4) * x[j + 16];
        }
        total += (float)dot * scaled[b];
    }
    return total;
}

#endif

void apo_block_matvec(enum apo_block_format format, const uint8_t *w, size_t row_bytes, size_t blocks,
                      const int16_t *q, const float *scale, const float *sum, size_t x_rows,
                      float *out, size_t out_stride, size_t row_begin, size_t row_end, int accumulate) {
    size_t n = blocks * 32;
    // Activation rows take turns over slices of 16 weight rows: each slice comes from memory
    // once and from cache for the other rows.
    for (size_t lo = row_begin; lo < row_end; lo += 16) {
        size_t hi = lo + 16 < row_end ? lo + 16 : row_end;
        for (size_t r = 0; r < x_rows; r++) {
            float *o = out + r * out_stride;
            const int16_t *qr = q + r * n;
            const float *sr = scale + r * blocks, *tr = sum + r * blocks;
            for (size_t row = lo; row < hi; row++) {
                const uint8_t *wr = w + row * row_bytes;
                float v;
                switch (format) {
                case APO_Q8_0: v = row_dot(APO_Q8_0, wr, blocks, qr, sr, tr); break;
                case APO_Q4_0: v = row_dot(APO_Q4_0, wr, blocks, qr, sr, tr); break;
                default: v = row_dot(APO_Q4_1, wr, blocks, qr, sr, tr); break;
                }
                o[row] = accumulate ? o[row] + v : v;
            }
        }
    }
}
