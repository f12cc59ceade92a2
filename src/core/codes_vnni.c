/* AVX-512 VNNI kernel for 8-bit codes; reached only where code_use_vnni() says yes. */
#include "codes.h"

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
static inline __attribute__((always_inline)) void reduce16(const __m512i v[16], int32_t out[16]) {
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

/* A tile of nf x np pairs (both 1..4, constants once inlined): accumulators are named, not an
 * array, so that they stay in registers, and those of absent rows and columns compile away. */
#define TILE_STEP(c, r)                                                                            \
    do {                                                                                           \
        if ((c) < np && (r) < nf) {                                                                \
            a##c##r = _mm512_dpbusd_epi32(a##c##r, q##c, f##r);                                    \
        }                                                                                          \
    } while (0)
#define TILE_COL(c)                                                                                \
    do {                                                                                           \
        TILE_STEP(c, 0);                                                                           \
        TILE_STEP(c, 1);                                                                           \
        TILE_STEP(c, 2);                                                                           \
        TILE_STEP(c, 3);                                                                           \
    } while (0)

static inline __attribute__((always_inline)) void
tile_body(const uint8_t *const flip[4], const size_t nf, const uint8_t *const plain[4],
          const size_t np, size_t dim, int32_t out[16]) {
    const __m512i sign = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    /* aCR holds pair (row R, plain C) */
    __m512i a00 = zero, a01 = zero, a02 = zero, a03 = zero, a10 = zero, a11 = zero, a12 = zero;
    __m512i a13 = zero, a20 = zero, a21 = zero, a22 = zero, a23 = zero, a30 = zero, a31 = zero;
    __m512i a32 = zero, a33 = zero;
    for (size_t i = 0; i < dim; i += 64) {
        /* Masked-off bytes of the plain rows load as 0 and add nothing. */
        __mmask64 m = dim - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (dim - i)) - 1);
        __m512i f0 = zero, f1 = zero, f2 = zero, f3 = zero, q0 = zero, q1 = zero, q2 = zero;
        __m512i q3 = zero;
        f0 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, flip[0] + i), sign);
        if (nf > 1) {
            f1 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, flip[1] + i), sign);
        }
        if (nf > 2) {
            f2 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, flip[2] + i), sign);
        }
        if (nf > 3) {
            f3 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, flip[3] + i), sign);
        }
        q0 = _mm512_maskz_loadu_epi8(m, plain[0] + i);
        TILE_COL(0);
        if (np > 1) {
            q1 = _mm512_maskz_loadu_epi8(m, plain[1] + i);
            TILE_COL(1);
        }
        if (np > 2) {
            q2 = _mm512_maskz_loadu_epi8(m, plain[2] + i);
            TILE_COL(2);
        }
        if (np > 3) {
            q3 = _mm512_maskz_loadu_epi8(m, plain[3] + i);
            TILE_COL(3);
        }
    }
    /* reduce16 writes the sum of v[4 * c + r] to out[4 * r + c] */
    const __m512i v[16] = {a00, a01, a02, a03, a10, a11, a12, a13,
                           a20, a21, a22, a23, a30, a31, a32, a33};
    reduce16(v, out);
}

#undef TILE_COL
#undef TILE_STEP

void code_dot_flip_4x4_vnni(const uint8_t *const flip[4], const uint8_t *const plain[4], size_t dim,
                            int32_t out[16]) {
    tile_body(flip, 4, plain, 4, dim, out);
}

#define TILE_SHAPES(nf)                                                                            \
    case 4 * (nf - 1) + 0:                                                                         \
        tile_body(flip, nf, plain, 1, dim, out);                                                   \
        break;                                                                                     \
    case 4 * (nf - 1) + 1:                                                                         \
        tile_body(flip, nf, plain, 2, dim, out);                                                   \
        break;                                                                                     \
    case 4 * (nf - 1) + 2:                                                                         \
        tile_body(flip, nf, plain, 3, dim, out);                                                   \
        break;                                                                                     \
    case 4 * (nf - 1) + 3:                                                                         \
        tile_body(flip, nf, plain, 4, dim, out);                                                   \
        break

void code_dot_flip_tile_vnni(const uint8_t *const flip[4], size_t nf, const uint8_t *const plain[4],
                             size_t np, size_t dim, int32_t out[16]) {
    switch (4 * (nf - 1) + (np - 1)) { /* one specialised body per shape */
        TILE_SHAPES(1);
        TILE_SHAPES(2);
        TILE_SHAPES(3);
        TILE_SHAPES(4);
    default:
        break;
    }
}

#undef TILE_SHAPES

int code_from_floats_vnni(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                          int32_t *sum128) {
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f);
    __m512i n2 = _mm512_setzero_si512(), sum = _mm512_setzero_si512();
    __mmask16 bad = 0;
    for (size_t i = 0; i < dim; i += 16) {
        __mmask16 m = dim - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (dim - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        /* max returns its second operand where the first is NaN: NaN clamps to 0 */
        __m512i iv = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(v, zero), top));
        bad |= _mm512_mask_cmp_ps_mask(m, v, _mm512_cvtepi32_ps(iv), _CMP_NEQ_UQ);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, iv);
        n2 = _mm512_add_epi32(n2, _mm512_madd_epi16(iv, iv)); /* lanes below 256: high halves 0 */
        sum = _mm512_add_epi32(sum, iv);
    }
    if (norm2 != NULL) {
        *norm2 = _mm512_reduce_add_epi32(n2);
        *sum128 = 128 * _mm512_reduce_add_epi32(sum);
    }
    return bad == 0;
}
