/* Kernels on 8-bit codes (rows stored as one unsigned byte per dimension).
 *
 * Squared L2 of two code rows a, b equals |a|^2 + |b|^2 - 2 a.b. With AVX-512 VNNI one instruction
 * multiplies 64 unsigned bytes by 64 signed bytes and accumulates, so a.b is taken as
 * sum a_i (b_i - 128) + 128 sum a_i, with b flipped to signed on the fly: about a third of the
 * instructions of widening both rows to 16 bits. All of it is integer arithmetic, so it is exact
 * (rows of up to 2^15 dimensions). */
#ifndef UMAPC_SRC_CODES_H
#define UMAPC_SRC_CODES_H

#include "cpu.h"

#include <stddef.h>
#include <stdint.h>

/* Longest code row the integer kernels take: 255^2 * dim (and |a.(b - 128)|) stay within int32. */
#define CODE_MAX_DIM ((size_t)1 << 15)

/* Column minima and maxima of n rows of dim floats, row i at x + i * stride floats, on `threads`
 * threads; returns whether every value is an integer (what lossless codes need, with every column
 * spanning at most 255). Nonzero n; the values must be finite. Returns -1 when out of memory. */
int code_column_ranges(const float *x, size_t n, size_t dim, size_t stride, int threads, float *lo,
                       float *hi);

/* sum_i a_i * (b_i - 128). */
typedef int32_t (*code_dot_flip_fn)(const uint8_t *a, const uint8_t *b, size_t dim);

int32_t code_dot_flip_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
#if defined(UMAPC_HAVE_X86_KERNELS)
/* Only where the CPU has UMAPC_CPU_AVX512VNNI. */
int32_t code_dot_flip_vnni(const uint8_t *a, const uint8_t *b, size_t dim);
#endif

/* Whether the level in use allows the AVX-512 VNNI kernels (the CPU has them and UMAPC_SIMD does
 * not ask for less than avx512). */
int code_use_vnni(void);

/* The VNNI kernel where the CPU has it, else NULL (callers then use a squared-difference kernel,
 * which is faster than the scalar dot without VNNI). */
code_dot_flip_fn code_dot_flip_select(void);

/* A 4x4 tile of flipped dots: out[r * 4 + c] = sum_i plain[c][i] * (flip[r][i] - 128), that is
 * code_dot_flip(plain[c], flip[r]). Each 64-byte chunk of the eight rows is loaded once for all
 * sixteen pairs, so a pair costs well under one code_dot_flip call (all-pairs joins of NN-descent).
 * Rows may repeat (padding of a partial tile). */
typedef void (*code_dot_flip_4x4_fn)(const uint8_t *const flip[4], const uint8_t *const plain[4],
                                     size_t dim, int32_t out[16]);

void code_dot_flip_4x4_scalar(const uint8_t *const flip[4], const uint8_t *const plain[4],
                              size_t dim, int32_t out[16]);
#if defined(UMAPC_HAVE_X86_KERNELS)
void code_dot_flip_4x4_vnni(const uint8_t *const flip[4], const uint8_t *const plain[4], size_t dim,
                            int32_t out[16]);
#endif

/* The VNNI tile where the CPU has it, else NULL. */
code_dot_flip_4x4_fn code_dot_flip_4x4_select(void);

/* The same for a partial tile of nf flipped and np plain rows (1..4 each): out[r * 4 + c] for
 * r < nf, c < np, at the cost of nf * np pairs (the entries outside are unspecified). */
typedef void (*code_dot_flip_tile_fn)(const uint8_t *const flip[4], size_t nf,
                                      const uint8_t *const plain[4], size_t np, size_t dim,
                                      int32_t out[16]);

void code_dot_flip_tile_scalar(const uint8_t *const flip[4], size_t nf,
                               const uint8_t *const plain[4], size_t np, size_t dim,
                               int32_t out[16]);
#if defined(UMAPC_HAVE_X86_KERNELS)
void code_dot_flip_tile_vnni(const uint8_t *const flip[4], size_t nf, const uint8_t *const plain[4],
                             size_t np, size_t dim, int32_t out[16]);
#endif

/* The VNNI partial tile where the CPU has it, else NULL. */
code_dot_flip_tile_fn code_dot_flip_tile_select(void);

/* Codes of a row of floats that should hold integers 0..255: out[i] = x[i] clamped to 0..255 and
 * truncated; returns whether every x[i] was such an integer (NaN is not). Where norm2 is not NULL,
 * it and sum128 receive the row terms of out (see code_row_terms). */
typedef int (*code_from_floats_fn)(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                                   int32_t *sum128);

int code_from_floats_scalar(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                            int32_t *sum128);
#if defined(UMAPC_HAVE_X86_KERNELS)
int code_from_floats_vnni(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                          int32_t *sum128);
#endif

/* The AVX-512 kernel where the CPU has VNNI (the tiles' machines), else the scalar one. */
code_from_floats_fn code_from_floats_select(void);

/* Pixels divided by 255 (what torchvision, Keras and most tutorials feed a model): a row of floats
 * each of which is c / 255 for an integer c in 0..255, rounded to float32 either directly or
 * through a float64 division. Such rows code losslessly as c; distances between codes are the
 * float distances times 255 up to the last bits, so the order of neighbours is the same apart
 * from exact ties, and a caller re-measures the neighbours it keeps on the floats. */
/* out[i] = c where x[i] is c / 255 as above (else unspecified); returns whether every value was
 * such. Where norm2 is not NULL, it and sum128 receive the row terms of out. */
int code_from_scaled_floats(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                            int32_t *sum128);

/* Per-row terms of the dot formulation: |a|^2 and 128 * sum a_i. */
static inline void code_row_terms(const uint8_t *a, size_t dim, int32_t *norm2, int32_t *sum128) {
    int32_t n2 = 0, s = 0;
    for (size_t i = 0; i < dim; i++) {
        n2 += (int32_t)a[i] * (int32_t)a[i];
        s += a[i];
    }
    *norm2 = n2;
    *sum128 = 128 * s;
}

/* Squared L2 from the dot formulation: norm2 of both rows, sum128 of a, and
 * code_dot_flip(a, b). */
static inline float code_l2_from_dot(int32_t norm2_a, int32_t norm2_b, int32_t sum128_a,
                                     int32_t dot_flip) {
    int64_t d = (int64_t)norm2_a + norm2_b - 2 * ((int64_t)dot_flip + sum128_a);
    return (float)d;
}

/* sum (a_i - b_i)^2 of two code rows (exact), and sum (q_i - c_i)^2 for a float q and codes c: the
 * kernels HNSW and NN-descent share. The SIMD versions exist only in builds for their
 * architecture and run only where cpu.c says so. */
typedef float (*code_l2_fn)(const uint8_t *a, const uint8_t *b, size_t dim);

float code_l2_scalar(const uint8_t *a, const uint8_t *b, size_t dim);
float code_mixed_scalar(const float *q, const uint8_t *c, size_t dim);
#if defined(UMAPC_HAVE_X86_KERNELS)
float code_l2_avx2(const uint8_t *a, const uint8_t *b, size_t dim);
float code_l2_avx512(const uint8_t *a, const uint8_t *b, size_t dim);
float code_mixed_avx2(const float *q, const uint8_t *c, size_t dim);
float code_mixed_avx512(const float *q, const uint8_t *c, size_t dim);
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
float code_l2_neon(const uint8_t *a, const uint8_t *b, size_t dim);
float code_mixed_neon(const float *q, const uint8_t *c, size_t dim);
/* Only where the CPU has UMAPC_CPU_DOTPROD (compiled for armv8.2-a+dotprod). */
float code_l2_dotprod(const uint8_t *a, const uint8_t *b, size_t dim);
#endif

/* The code-row squared difference of one level (neon: with dotprod where the CPU has it), NULL
 * where this CPU or build lacks the level; and that of the level in use. */
code_l2_fn code_l2_at(umapc_level level);
code_l2_fn code_l2_select(void);

#endif
