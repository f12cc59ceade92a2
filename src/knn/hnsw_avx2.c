/* AVX2 kernels for 8-bit codes; reached only through code_l2_at and the item kernels of
 * hnsw_quant.c. */
#include "hnsw_internal.h"

#include <immintrin.h>

float code_l2_avx2(const uint8_t *a, const uint8_t *b, size_t dim) {
    __m256i s = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i y = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i d = _mm256_sub_epi16(x, y);
        s = _mm256_add_epi32(s, _mm256_madd_epi16(d, d));
    }
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    uint32_t total = (uint32_t)_mm_cvtsi128_si32(t);
    for (; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        total += (uint32_t)(d * d);
    }
    return (float)total;
}

float code_mixed_avx2(const float *q, const uint8_t *c, size_t dim) {
    __m256 s = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m128i bytes = _mm_loadl_epi64((const __m128i *)(c + i));
        __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(q + i), x);
        s = _mm256_fmadd_ps(d, d, s);
    }
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    float total = _mm_cvtss_f32(t);
    for (; i < dim; i++) {
        float d = q[i] - (float)c[i];
        total += d * d;
    }
    return total;
}
