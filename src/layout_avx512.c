/* AVX-512 kernel of the 2-D layout SGD: the attraction and the negative samples of one sampled
 * edge in the lanes of one register. Points are gathered as (x, y) pairs, so every gradient
 * component sits in its own lane and is clipped there, as umap-learn clips per component; d2 and
 * the coefficient are computed in both lanes of a pair. */
#include "layout_kernels.h"

#include <immintrin.h>
#include <string.h>

/* log2 and exp2 with the polynomials of the scalar path in layout.c (relative error ~1e-7). */
static inline __m512 log2_ps(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __m512i e =
        _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(u, 23), _mm512_set1_epi32(0xff)),
                         _mm512_set1_epi32(127));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_and_si512(u, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f800000)));
    __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_epi32(e, big, e, _mm512_set1_epi32(1));
    __m512 t = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    __m512 p = _mm512_set1_ps(1.261500205e-01f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-2.074235521e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(2.156704277e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-2.389200412e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(2.879182434e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-3.607048381e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(4.809106123e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-7.213473333e-01f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.442695004e+00f));
    return _mm512_fmadd_ps(t, p, _mm512_cvtepi32_ps(e));
}

static inline __m512 exp2_ps(__m512 y) {
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_set1_ps(-126.0f)), _mm512_set1_ps(126.0f));
    __m512 r = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(y, r);
    __m512 p = _mm512_set1_ps(1.546973610e-04f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.340043695e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618025590e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550327202e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402265121e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472067e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, r);
}

/* Bit q of an 8-bit lane mask becomes bits 2q and 2q+1. */
static inline __mmask16 pair_mask(unsigned m) {
    unsigned x = m & 0xffu;
    x = (x | (x << 4)) & 0x0f0fu;
    x = (x | (x << 2)) & 0x3333u;
    x = (x | (x << 1)) & 0x5555u;
    return (__mmask16)(x | (x << 1));
}

void umapc_layout_edge2_avx512(float *cur, const float *emb, const umapc_idx *idx, int n_attr,
                               int n, umapc_idx self, const layout_consts *c) {
    long long xy;
    memcpy(&xy, cur, sizeof xy);
    const __m512 pos = _mm512_castsi512_ps(_mm512_set1_epi64(xy));
    const __m512 one = _mm512_set1_ps(1.0f), four = _mm512_set1_ps(4.0f);
    const __m512 a = _mm512_set1_ps(c->a), b = _mm512_set1_ps(c->b);
    __m512 total = _mm512_setzero_ps();
    for (int q0 = 0; q0 < n; q0 += 8) {
        int cnt = n - q0 < 8 ? n - q0 : 8;
        __mmask8 live = (__mmask8)((1u << cnt) - 1u);
        __m256i vi = _mm256_maskz_loadu_epi32(live, idx + q0);
        __m512i pairs =
            _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), live, vi, (const void *)emb, 8);
        __m512 diff = _mm512_sub_ps(pos, _mm512_castsi512_ps(pairs));
        __m512 sq = _mm512_mul_ps(diff, diff);
        __m512 d2 = _mm512_add_ps(sq, _mm512_permute_ps(sq, 0xb1));
        __m512 d2c = _mm512_max_ps(d2, _mm512_set1_ps(1e-30f));
        __m512 pw = exp2_ps(_mm512_mul_ps(b, log2_ps(d2c)));
        __m512 apw1 = _mm512_fmadd_ps(a, pw, one);
        /* repulsion 2 gamma b / ((0.001 + d2) (a d2^b + 1)); attraction -2 a b d2^b / (d2 (a d2^b
         * + 1)) */
        int na = n_attr - q0 < 0 ? 0 : (n_attr - q0 < 8 ? n_attr - q0 : 8);
        __mmask16 attr = (__mmask16)((1u << (2 * na)) - 1u);
        __m512 num =
            _mm512_mask_mul_ps(_mm512_set1_ps(c->repel), attr, _mm512_set1_ps(c->attract), pw);
        __m512 den = _mm512_mask_mov_ps(_mm512_add_ps(d2c, _mm512_set1_ps(0.001f)), attr, d2c);
        __m512 coeff = _mm512_div_ps(num, _mm512_mul_ps(den, apw1));
        __m512 g = _mm512_min_ps(
            _mm512_max_ps(_mm512_mul_ps(coeff, diff), _mm512_sub_ps(_mm512_setzero_ps(), four)),
            four);
        g = _mm512_mask_mul_ps(g, attr, g, _mm512_set1_ps(c->attr_scale));
        __mmask8 other = _mm256_cmpneq_epi32_mask(vi, _mm256_set1_epi32(self));
        __mmask16 keep = pair_mask(live & other) | attr;
        keep &= _mm512_cmp_ps_mask(d2, _mm512_setzero_ps(), _CMP_GT_OQ);
        total = _mm512_mask_add_ps(total, keep, total, g);
    }
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(total),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(total), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    float s[4];
    _mm_storeu_ps(s, q);
    cur[0] += c->alpha * s[0];
    cur[1] += c->alpha * s[1];
}
