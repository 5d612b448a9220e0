// The innermost loops of a decode step: matrix-vector products over GGUF's 32-weight blocks
// (Q8_0, Q4_0, Q4_1) and one row's attention over its KV cache.
//
// C with AVX2 intrinsics, not Swift: the products run as 16-bit integer multiply-adds
// (vpmaddwd), which LLVM does not form from Swift's SIMD operations (the lowering scalarises
// them), three times fewer instructions per block than converting each weight to a float; and
// attention needs a vectorised exp. Built with AVX2/FMA/F16C on x86-64 (callers check the CPU),
// portable loops elsewhere.
#ifndef APO_DECODE_KERNELS_H
#define APO_DECODE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum apo_block_format { APO_Q8_0 = 0, APO_Q4_0 = 1, APO_Q4_1 = 2 };

// Bytes of one block of 32 weights.
size_t apo_block_bytes(enum apo_block_format format);

// The kernels' row layout: the same bytes as the file's `blocks` blocks, regrouped so the codes
// of a row are contiguous and its scales (and Q4_1's offsets) follow as arrays of halves:
// [codes of every block][d of every block][m of every block (Q4_1)]. Bits are not changed.
void apo_block_row_regroup(enum apo_block_format format, const uint8_t *file_row, uint8_t *kernel_row, size_t blocks);

// Activations of `rows` rows (`n` floats each, `x_stride` apart; n a multiple of 32) as blocks of
// 32 int16 values with one scale each (scale = max|x| / 32767, so the rounding error is at most
// 1.5e-5 of the block's largest value), plus each block's exact float sum (Q4_1's offset term).
// q: rows * n values; scale, sum: rows * n/32 values each.
void apo_quantize_activations(const float *x, size_t rows, size_t x_stride, size_t n,
                              int16_t *q, float *scale, float *sum);

// out[r * out_stride + o] (+)= sum_i x[r, i] * w[o, i] for o in [row_begin, row_end) and
// r < x_rows, with x given by apo_quantize_activations. Weight row o is at w + o * row_bytes, in
// the layout of apo_block_row_regroup.
void apo_block_matvec(enum apo_block_format format, const uint8_t *w, size_t row_bytes, size_t blocks,
                      const int16_t *q, const float *scale, const float *sum, size_t x_rows,
                      float *out, size_t out_stride, size_t row_begin, size_t row_end, int accumulate);

// 1 when this build has the AVX2 kernels, 0 for the portable loops.
int apo_decode_kernels_vectorised(void);

// Causal attention of one query row for query heads [head_begin, head_end) over cached positions
// 0..<length of its sequence: out_h = softmax(q_h · K_kvᵀ · scale) · V_kv, kv = h / group_size.
// q, out: the row's [heads, head_dim]; keys, values: the sequence's first cached position, rows
// kv_dim floats apart ([position, kv_heads, head_dim]); scores: scratch of `length` floats.
void apo_attention_row(const float *q, const float *keys, const float *values, size_t length,
                       size_t kv_dim, size_t head_dim, size_t group_size, size_t head_begin, size_t head_end,
                       float scale, float *out, float *scores);

#endif
