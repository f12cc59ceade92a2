/* AVX-512 VNNI kernel for 8-bit codes; reached only after code_cpu_has_vnni(). */
#include "codes.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

int32_t code_dot_flip_vnni(const uint8_t *a, const uint8_t *b, size_t dim) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= dim; i += 128) {
        __m512i b0 = _mm512_xor_si512(_mm512_loadu_si512(b + i), flip);
        __m512i b1 = _mm512_xor_si512(_mm512_loadu_si512(b + i + 64), flip);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(a + i), b0);
        s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(a + i + 64), b1);
    }
    for (; i < dim; i += 64) {
        /* Masked-off bytes load as 0 in a, so they add nothing whatever b's flipped byte is. */
        __mmask64 m = dim - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (dim - i)) - 1);
        __m512i bb = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, b + i), flip);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_maskz_loadu_epi8(m, a + i), bb);
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

/* Sums of the sixteen vectors v[0..15], as out[4 * j + t] = sum of v[4 * t + j]: halves, then
 * quarters, then elements are folded pairwise, so all sixteen reductions share the shuffles. */
static void reduce16(const __m512i v[16], int32_t out[16]) {
    __m512i w[8], x[4];
    for (int k = 0; k < 8; k++) {
        w[k] = _mm512_add_epi32(_mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0x44),
                                _mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0xEE));
    }
    for (int m = 0; m < 4; m++) {
        x[m] = _mm512_add_epi32(_mm512_shuffle_i32x4(w[2 * m], w[2 * m + 1], 0x88),
                                _mm512_shuffle_i32x4(w[2 * m], w[2 * m + 1], 0xDD));
    }
    __m512i y0 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(x[0], x[1]), _mm512_unpackhi_epi32(x[0], x[1]));
    __m512i y1 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(x[2], x[3]), _mm512_unpackhi_epi32(x[2], x[3]));
    __m512i z = _mm512_add_epi32(_mm512_unpacklo_epi64(y0, y1), _mm512_unpackhi_epi64(y0, y1));
    _mm512_storeu_si512(out, z);
}

/* One chunk of a 4x4 tile; named accumulators, not an array, so that they stay in registers. */
#define TILE_ROW(c, p)                                                                             \
    do {                                                                                           \
        c##0 = _mm512_dpbusd_epi32(c##0, p, f0);                                                   \
        c##1 = _mm512_dpbusd_epi32(c##1, p, f1);                                                   \
        c##2 = _mm512_dpbusd_epi32(c##2, p, f2);                                                   \
        c##3 = _mm512_dpbusd_epi32(c##3, p, f3);                                                   \
    } while (0)

void code_dot_flip_4x4_vnni(const uint8_t *const flip[4], const uint8_t *const plain[4], size_t dim,
                            int32_t out[16]) {
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    const uint8_t *r0 = flip[0], *r1 = flip[1], *r2 = flip[2], *r3 = flip[3];
    const uint8_t *p0 = plain[0], *p1 = plain[1], *p2 = plain[2], *p3 = plain[3];
    /* aC_R holds pair (row R, plain C) */
    __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
    __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512i a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (size_t i = 0; i < dim; i += 64) {
        /* Masked-off bytes of the plain rows load as 0 and add nothing. */
        __mmask64 m = dim - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (dim - i)) - 1);
        __m512i f0 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, r0 + i), sign);
        __m512i f1 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, r1 + i), sign);
        __m512i f2 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, r2 + i), sign);
        __m512i f3 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, r3 + i), sign);
        __m512i q = _mm512_maskz_loadu_epi8(m, p0 + i);
        TILE_ROW(a0, q);
        q = _mm512_maskz_loadu_epi8(m, p1 + i);
        TILE_ROW(a1, q);
        q = _mm512_maskz_loadu_epi8(m, p2 + i);
        TILE_ROW(a2, q);
        q = _mm512_maskz_loadu_epi8(m, p3 + i);
        TILE_ROW(a3, q);
    }
    /* reduce16 writes the sum of v[4 * c + r] to out[4 * r + c] */
    const __m512i v[16] = {a00, a01, a02, a03, a10, a11, a12, a13,
                           a20, a21, a22, a23, a30, a31, a32, a33};
    reduce16(v, out);
}

#undef TILE_ROW

#else

void code_dot_flip_4x4_vnni(const uint8_t *const flip[4], const uint8_t *const plain[4], size_t dim,
                            int32_t out[16]) {
    code_dot_flip_4x4_scalar(flip, plain, dim, out);
}

int32_t code_dot_flip_vnni(const uint8_t *a, const uint8_t *b, size_t dim) {
    return code_dot_flip_scalar(a, b, dim);
}

#endif
