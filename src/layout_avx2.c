/* AVX2 kernel of the 2-D layout SGD: the attraction and the negative samples of one sampled edge
 * in the 8 lanes of a register, one point per lane (x and y gathered separately), so the pow and
 * the division are paid once per gradient. */
#include "layout_kernels.h"

#include <immintrin.h>
#include <string.h>

/* log2 and exp2 with the polynomials of the scalar path in layout.c (relative error ~1e-7). */
static inline __m256 log2_ps(__m256 x) {
    __m256i u = _mm256_castps_si256(x);
    __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(127));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
        _mm256_and_si256(u, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
    __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_sub_epi32(e, _mm256_castps_si256(big)); /* big lanes are -1 */
    __m256 t = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    __m256 p = _mm256_set1_ps(1.261500205e-01f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-2.074235521e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.156704277e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-2.389200412e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(2.879182434e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-3.607048381e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(4.809106123e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-7.213473333e-01f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.442695004e+00f));
    return _mm256_fmadd_ps(t, p, _mm256_cvtepi32_ps(e));
}

static inline __m256 exp2_ps(__m256 y) {
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-126.0f)), _mm256_set1_ps(126.0f));
    __m256 r = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(y, r);
    __m256 p = _mm256_set1_ps(1.546973610e-04f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.340043695e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618025590e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550327202e-02f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402265121e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931472067e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i scale =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

static inline __m256i lanes_below(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void umapc_layout_edge2_avx2(float *cur, const float *emb, const umapc_idx *idx, int n_attr, int n,
                             umapc_idx self, const layout_consts *c) {
    /* cur is read and written as one 64-bit (x, y) so the next call's load is forwarded from
     * this call's store. */
    double packed;
    memcpy(&packed, cur, sizeof packed);
    const __m128 xy = _mm_castpd_ps(_mm_set_sd(packed));
    const __m256 px = _mm256_broadcastss_ps(xy);
    const __m256 py = _mm256_broadcastss_ps(_mm_movehdup_ps(xy));
    const __m256 four = _mm256_set1_ps(4.0f), minus_four = _mm256_set1_ps(-4.0f);
    const __m256 a = _mm256_set1_ps(c->a), b = _mm256_set1_ps(c->b);
    __m256 sx = _mm256_setzero_ps(), sy = _mm256_setzero_ps();
    for (int q0 = 0; q0 < n; q0 += 8) {
        __m256i live = lanes_below(n - q0);
        __m256i vi = _mm256_maskload_epi32(idx + q0, live);
        __m256i off = _mm256_slli_epi32(vi, 1);
        __m256 ox =
            _mm256_mask_i32gather_ps(_mm256_setzero_ps(), emb, off, _mm256_castsi256_ps(live), 4);
        __m256 oy = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), emb + 1, off,
                                             _mm256_castsi256_ps(live), 4);
        __m256 dx = _mm256_sub_ps(px, ox), dy = _mm256_sub_ps(py, oy);
        __m256 d2 = _mm256_fmadd_ps(dy, dy, _mm256_mul_ps(dx, dx));
        __m256 d2c = _mm256_max_ps(d2, _mm256_set1_ps(1e-30f));
        __m256 pw = exp2_ps(_mm256_mul_ps(b, log2_ps(d2c)));
        __m256 apw1 = _mm256_fmadd_ps(a, pw, _mm256_set1_ps(1.0f));
        /* repulsion 2 gamma b / ((0.001 + d2) (a d2^b + 1)); attraction -2 a b d2^b / (d2 (a d2^b
         * + 1)) */
        __m256 attr = _mm256_castsi256_ps(lanes_below(n_attr - q0));
        __m256 num = _mm256_blendv_ps(_mm256_set1_ps(c->repel),
                                      _mm256_mul_ps(_mm256_set1_ps(c->attract), pw), attr);
        __m256 den = _mm256_blendv_ps(_mm256_add_ps(d2c, _mm256_set1_ps(0.001f)), d2c, attr);
        __m256 coeff = _mm256_div_ps(num, _mm256_mul_ps(den, apw1));
        __m256 gx = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(coeff, dx), minus_four), four);
        __m256 gy = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(coeff, dy), minus_four), four);
        __m256 is_self = _mm256_castsi256_ps(_mm256_cmpeq_epi32(vi, _mm256_set1_epi32(self)));
        __m256 keep = _mm256_and_ps(_mm256_castsi256_ps(live),
                                    _mm256_cmp_ps(d2, _mm256_setzero_ps(), _CMP_GT_OQ));
        keep = _mm256_and_ps(
            keep,
            _mm256_or_ps(attr, _mm256_xor_ps(is_self, _mm256_castsi256_ps(_mm256_set1_epi32(-1)))));
        sx = _mm256_add_ps(sx, _mm256_and_ps(gx, keep));
        sy = _mm256_add_ps(sy, _mm256_and_ps(gy, keep));
    }
    __m256 h = _mm256_hadd_ps(sx, sy); /* x01 x23 y01 y23 | x45 x67 y45 y67 */
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_hadd_ps(q, q); /* sx sy sx sy */
    q = _mm_fmadd_ps(_mm_set1_ps(c->alpha), q, xy);
    packed = _mm_cvtsd_f64(_mm_castps_pd(q));
    memcpy(cur, &packed, sizeof packed);
}
