/* The 2-D layout executor (layout_lanes.h) with 8 lanes of AVX2. */
#include <immintrin.h>

#define W 8
typedef __m256 VF;
typedef __m256i VI;
typedef __m256i VM; /* all ones or all zeros per lane */

#define VF_SET1(x)      _mm256_set1_ps(x)
#define VI_SET1(x)      _mm256_set1_epi32(x)
#define VF_ADD(a, b)    _mm256_add_ps(a, b)
#define VF_SUB(a, b)    _mm256_sub_ps(a, b)
#define VF_MUL(a, b)    _mm256_mul_ps(a, b)
#define VF_DIV(a, b)    _mm256_div_ps(a, b)
#define VF_MIN(a, b)    _mm256_min_ps(a, b)
#define VF_MAX(a, b)    _mm256_max_ps(a, b)
#define VF_GT(a, b)     _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ))
#define VF_SEL(m, y, n) _mm256_blendv_ps(n, y, _mm256_castsi256_ps(m))
#define VI_SEL(m, y, n) _mm256_blendv_epi8(n, y, m)
#define VI_ADD(a, b)    _mm256_add_epi32(a, b)
#define VI_SUB(a, b)    _mm256_sub_epi32(a, b)
#define VI_AND(a, b)    _mm256_and_si256(a, b)
#define VI_OR(a, b)     _mm256_or_si256(a, b)
#define VI_SRL(a, n)    _mm256_srli_epi32(a, n)
#define VI_SLL(a, n)    _mm256_slli_epi32(a, n)
#define VI_GT(a, b)     _mm256_cmpgt_epi32(a, b)
#define VF_ROUND(x)     _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VI_FROM_VF(x)   _mm256_cvttps_epi32(x)
#define VF_FROM_VI(x)   _mm256_cvtepi32_ps(x)
#define VF_AS_VI(x)     _mm256_castps_si256(x)
#define VI_AS_VF(x)     _mm256_castsi256_ps(x)
#define VM_AND(a, b)    _mm256_and_si256(a, b)
#define VM_BITS(m)      _mm256_movemask_ps(_mm256_castsi256_ps(m))
#define VI_LOAD(p)      _mm256_loadu_si256((const __m256i *)(p))
#define VI_STORE(p, v)  _mm256_storeu_si256((__m256i *)(p), v)
#define VF_LOAD(p)      _mm256_loadu_ps(p)
#define VF_STORE(p, v)  _mm256_storeu_ps(p, v)
#define VI_GATHER(b, i, m)                                                                         \
    _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(b), i, m, 4)

#define VI_XOR(a, b)    _mm256_xor_si256(a, b)
#define VM_NOT_EQ(a, b) _mm256_xor_si256(_mm256_cmpeq_epi32(a, b), _mm256_set1_epi32(-1))
#define VI_MULLO(a, b)  _mm256_mullo_epi32(a, b)

/* high halves of the 32x32-bit products: even lanes from one 64-bit multiply, odd from another */
static inline __m256i mulhi_u32(__m256i a, __m256i b) {
    __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(a, b), 32);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
    return _mm256_blend_epi32(even, odd, 0xAA);
}
#define VI_MULHI_U32(a, b) mulhi_u32(a, b)

/* x and y of the points idx (0 where !m): each (x, y) pair is one 64-bit element. */
static inline void gather_xy(const float *emb, VI idx, VM m, VF *x, VF *y) {
    __m128i ilo = _mm256_castsi256_si128(idx), ihi = _mm256_extracti128_si256(idx, 1);
    __m256i mlo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
    __m256i mhi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1));
    __m256d lo = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), (const double *)(const void *)emb,
                                          ilo, _mm256_castsi256_pd(mlo), 8);
    __m256d hi = _mm256_mask_i32gather_pd(_mm256_setzero_pd(), (const double *)(const void *)emb,
                                          ihi, _mm256_castsi256_pd(mhi), 8);
    /* lo = x0 y0 x1 y1 | x2 y2 x3 y3, hi likewise for points 4..7 */
    __m256 a = _mm256_castpd_ps(lo), b = _mm256_castpd_ps(hi);
    __m256 xs = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* x0 x1 x4 x5 | x2 x3 x6 x7 */
    __m256 ys = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    *x = _mm256_permutevar8x32_ps(xs, order);
    *y = _mm256_permutevar8x32_ps(ys, order);
}
#define GATHER_XY(e, i, m, x, y) gather_xy(e, i, m, x, y)

#include "layout_lanes.h"

void umapc_layout_exec2_avx2(const layout_block *blk, const layout_consts *c) {
    lanes_exec2(blk, c);
}
