/* The 2-D layout executor (layout_lanes.h) with 16 lanes of AVX-512. */
#include <immintrin.h>

#define W 16
typedef __m512 VF;
typedef __m512i VI;
typedef __mmask16 VM;

#define VF_SET1(x)         _mm512_set1_ps(x)
#define VI_SET1(x)         _mm512_set1_epi32(x)
#define VF_ADD(a, b)       _mm512_add_ps(a, b)
#define VF_SUB(a, b)       _mm512_sub_ps(a, b)
#define VF_MUL(a, b)       _mm512_mul_ps(a, b)
#define VF_DIV(a, b)       _mm512_div_ps(a, b)
#define VF_MIN(a, b)       _mm512_min_ps(a, b)
#define VF_MAX(a, b)       _mm512_max_ps(a, b)
#define VF_GT(a, b)        _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define VF_SEL(m, y, n)    _mm512_mask_blend_ps(m, n, y)
#define VI_SEL(m, y, n)    _mm512_mask_blend_epi32(m, n, y)
#define VI_ADD(a, b)       _mm512_add_epi32(a, b)
#define VI_SUB(a, b)       _mm512_sub_epi32(a, b)
#define VI_AND(a, b)       _mm512_and_si512(a, b)
#define VI_OR(a, b)        _mm512_or_si512(a, b)
#define VI_SRL(a, n)       _mm512_srli_epi32(a, n)
#define VI_SLL(a, n)       _mm512_slli_epi32(a, n)
#define VI_GT(a, b)        _mm512_cmpgt_epi32_mask(a, b)
#define VF_ROUND(x)        _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VI_FROM_VF(x)      _mm512_cvttps_epi32(x)
#define VF_FROM_VI(x)      _mm512_cvtepi32_ps(x)
#define VF_AS_VI(x)        _mm512_castps_si512(x)
#define VI_AS_VF(x)        _mm512_castsi512_ps(x)
#define VM_AND(a, b)       ((VM)((a) & (b)))
#define VM_BITS(m)         ((int)(m))
#define VI_LOAD(p)         _mm512_loadu_si512((const void *)(p))
#define VI_STORE(p, v)     _mm512_storeu_si512((void *)(p), v)
#define VF_LOAD(p)         _mm512_loadu_ps(p)
#define VF_STORE(p, v)     _mm512_storeu_ps(p, v)
#define VI_GATHER(b, i, m) _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, i, b, 4)
#define VI_XOR(a, b)       _mm512_xor_si512(a, b)
#define VM_NOT_EQ(a, b)    _mm512_cmpneq_epi32_mask(a, b)
#define VI_MULLO(a, b)     _mm512_mullo_epi32(a, b)

/* high halves of the 32x32-bit products: even lanes from one 64-bit multiply, odd from another */
static inline __m512i mulhi_u32(__m512i a, __m512i b) {
    __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(a, b), 32);
    __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32));
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}
#define VI_MULHI_U32(a, b) mulhi_u32(a, b)

/* x and y of the points idx (0 where !m): each (x, y) pair is one 64-bit element. */
static inline void gather_xy(const float *emb, VI idx, VM m, VF *x, VF *y) {
    __m512d lo = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (__mmask8)m,
                                          _mm512_castsi512_si256(idx), emb, 8);
    __m512d hi = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (__mmask8)(m >> 8),
                                          _mm512_extracti64x4_epi64(idx, 1), emb, 8);
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *x = _mm512_permutex2var_ps(_mm512_castpd_ps(lo), even, _mm512_castpd_ps(hi));
    *y = _mm512_permutex2var_ps(_mm512_castpd_ps(lo), odd, _mm512_castpd_ps(hi));
}
#define GATHER_XY(e, i, m, x, y) gather_xy(e, i, m, x, y)

#include "layout_lanes.h"

void umapc_layout_exec2_avx512(const layout_block *blk, const layout_consts *c) {
    lanes_exec2(blk, c);
}
