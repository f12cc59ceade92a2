/* AVX2 + FMA versions of the hot distance kernels. Compiled with -mavx2 -mfma; reached only
 * through simd_kernels_at / simd_kernels_select after the check in cpu.c. */
#include "metric.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

/* Four independent accumulators hide the FMA latency (4 cycles, 2 per cycle on recent cores). */
#define UNROLL 32

static inline float hsum256(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* Lanes [0, rest) set, for the tail of fewer than 8 floats: maskload reads nothing beyond the end
 * of the row, so rows need no padding. */
static inline __m256i tail_mask(size_t rest) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rest), lanes);
}

static inline __m256 abs256(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static float sqeuclidean_avx2(const float *a, const float *b, size_t dim) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= dim; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float dot_avx2(const float *a, const float *b, size_t dim) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= dim; i += 8) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float manhattan_avx2(const float *a, const float *b, size_t dim) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = _mm256_add_ps(s0,
                           abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i))));
        s1 = _mm256_add_ps(
            s1, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8))));
        s2 = _mm256_add_ps(
            s2, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16))));
        s3 = _mm256_add_ps(
            s3, abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24))));
    }
    for (; i + 8 <= dim; i += 8) {
        s0 = _mm256_add_ps(s0,
                           abs256(_mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i))));
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_add_ps(s1, abs256(d));
    }
    return hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static inline __m256 move_lanes256(__m256 x, __m256 y, __m256 sx, __m256 sy, __m256 coeff,
                                   __m256 alpha) {
    __m256 v = _mm256_mul_ps(coeff, _mm256_sub_ps(_mm256_mul_ps(x, sx), _mm256_mul_ps(y, sy)));
    v = _mm256_max_ps(_mm256_min_ps(v, _mm256_set1_ps(4.0f)), _mm256_set1_ps(-4.0f));
    return _mm256_add_ps(x, _mm256_mul_ps(v, alpha));
}

static void move_clipped_avx2(float *x, const float *y, size_t dim, float sx, float sy, float coeff,
                              float alpha) {
    __m256 vsx = _mm256_set1_ps(sx), vsy = _mm256_set1_ps(sy);
    __m256 vc = _mm256_set1_ps(coeff), va = _mm256_set1_ps(alpha);
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m256 v = move_lanes256(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), vsx, vsy, vc, va);
        _mm256_storeu_ps(x + i, v);
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 v = move_lanes256(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m), vsx,
                                 vsy, vc, va);
        _mm256_maskstore_ps(x + i, m, v);
    }
}

static float move_clipped_sqeuclidean_avx2(float *x, const float *y, size_t dim, float sx, float sy,
                                           float coeff, float alpha, const float *next) {
    __m256 vsx = _mm256_set1_ps(sx), vsy = _mm256_set1_ps(sy);
    __m256 vc = _mm256_set1_ps(coeff), va = _mm256_set1_ps(alpha);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 v0 = move_lanes256(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), vsx, vsy, vc, va);
        __m256 v1 =
            move_lanes256(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), vsx, vsy, vc, va);
        _mm256_storeu_ps(x + i, v0);
        _mm256_storeu_ps(x + i + 8, v1);
        __m256 e0 = _mm256_sub_ps(v0, _mm256_loadu_ps(next + i));
        __m256 e1 = _mm256_sub_ps(v1, _mm256_loadu_ps(next + i + 8));
        s0 = _mm256_fmadd_ps(e0, e0, s0);
        s1 = _mm256_fmadd_ps(e1, e1, s1);
    }
    for (; i + 8 <= dim; i += 8) {
        __m256 v = move_lanes256(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), vsx, vsy, vc, va);
        _mm256_storeu_ps(x + i, v);
        __m256 e = _mm256_sub_ps(v, _mm256_loadu_ps(next + i));
        s0 = _mm256_fmadd_ps(e, e, s0);
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 v = move_lanes256(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m), vsx,
                                 vsy, vc, va);
        _mm256_maskstore_ps(x + i, m, v);
        /* lanes past the end: the moved zeros minus zeros are 0 */
        __m256 e = _mm256_sub_ps(v, _mm256_maskload_ps(next + i, m));
        s1 = _mm256_fmadd_ps(e, e, s1);
    }
    return hsum256(_mm256_add_ps(s0, s1));
}

static inline __m256 step_lanes256(__m256 x, __m256 y, __m256 step) {
    return _mm256_add_ps(x, _mm256_mul_ps(step, _mm256_sub_ps(x, y)));
}

static float move_sqeuclidean_avx2(float *x, const float *y, size_t dim, float step,
                                   const float *next) {
    __m256 vs = _mm256_set1_ps(step);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 v0 = step_lanes256(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), vs);
        __m256 v1 = step_lanes256(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), vs);
        _mm256_storeu_ps(x + i, v0);
        _mm256_storeu_ps(x + i + 8, v1);
        if (next != NULL) {
            __m256 e0 = _mm256_sub_ps(v0, _mm256_loadu_ps(next + i));
            __m256 e1 = _mm256_sub_ps(v1, _mm256_loadu_ps(next + i + 8));
            s0 = _mm256_fmadd_ps(e0, e0, s0);
            s1 = _mm256_fmadd_ps(e1, e1, s1);
        }
    }
    /* A full vector unmasked: a masked load of x would wait for the previous step's masked
     * store to leave the store buffer (see move_sqeuclidean_avx512). */
    if (i + 8 <= dim) {
        __m256 v = step_lanes256(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), vs);
        _mm256_storeu_ps(x + i, v);
        if (next != NULL) {
            __m256 e = _mm256_sub_ps(v, _mm256_loadu_ps(next + i));
            s0 = _mm256_fmadd_ps(e, e, s0);
        }
        i += 8;
    }
    if (i < dim) {
        __m256i m = tail_mask(dim - i);
        __m256 v = step_lanes256(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m), vs);
        _mm256_maskstore_ps(x + i, m, v);
        if (next != NULL) {
            /* lanes past the end: the moved zeros minus zeros are 0 */
            __m256 e = _mm256_sub_ps(v, _mm256_maskload_ps(next + i, m));
            s0 = _mm256_fmadd_ps(e, e, s0);
        }
    }
    return next != NULL ? hsum256(_mm256_add_ps(s0, s1)) : NAN;
}

const simd_kernels metric_kernels_avx2_table = {
    .sqeuclidean = sqeuclidean_avx2,
    .dot = dot_avx2,
    .manhattan = manhattan_avx2,
    .move_clipped = move_clipped_avx2,
    .move_clipped_sqeuclidean = move_clipped_sqeuclidean_avx2,
    .move_sqeuclidean = move_sqeuclidean_avx2,
    .level = "avx2",
};
