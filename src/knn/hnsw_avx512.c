/* AVX-512 kernels for 8-bit codes; reached only through code_l2_at and the item kernels of
 * hnsw_quant.c. */
#include "hnsw_internal.h"

#include <immintrin.h>

static inline __m512i sq_diff(const uint8_t *a, const uint8_t *b) {
    __m512i x = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)a));
    __m512i y = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)b));
    __m512i d = _mm512_sub_epi16(x, y);
    return _mm512_madd_epi16(d, d);
}

float code_l2_avx512(const uint8_t *a, const uint8_t *b, size_t dim) {
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_add_epi32(s0, sq_diff(a + i, b + i));
        s1 = _mm512_add_epi32(s1, sq_diff(a + i + 32, b + i + 32));
    }
    for (; i + 32 <= dim; i += 32) {
        s0 = _mm512_add_epi32(s0, sq_diff(a + i, b + i));
    }
    if (i < dim) {
        __mmask32 m = (__mmask32)((1u << (dim - i)) - 1u);
        __m512i x = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
        __m512i y = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, b + i));
        __m512i d = _mm512_sub_epi16(x, y);
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(d, d));
    }
    return (float)_mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

float code_mixed_avx512(const float *q, const uint8_t *c, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 x0 =
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
        __m512 x1 = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i + 16))));
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), x0);
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), x1);
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i < dim; i += 16) {
        __mmask16 m = dim - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (dim - i)) - 1u);
        __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + i)));
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + i), x);
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
