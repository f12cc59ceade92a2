/* AVX-512 versions of the hot distance kernels. Compiled with -mavx512f (and bw/dq/vl); reached
 * only through simd_kernels_at / simd_kernels_select after the check in cpu.c. */
#include "metric.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

/* Four independent accumulators of 16 lanes hide the FMA latency. */
#define UNROLL 64

/* Lanes [0, rest) for the tail of fewer than 16 floats; masked loads do not fault beyond it. */
static inline __mmask16 tail_mask(size_t rest) {
    return (__mmask16)((1u << rest) - 1u);
}

static inline __m512 abs512(__m512 v) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

static float sqeuclidean_avx512(const float *a, const float *b, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float dot_avx512(const float *a, const float *b, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= dim; i += 16) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float manhattan_avx512(const float *a, const float *b, size_t dim) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = _mm512_add_ps(s0,
                           abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i))));
        s1 = _mm512_add_ps(
            s1, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16))));
        s2 = _mm512_add_ps(
            s2, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32))));
        s3 = _mm512_add_ps(
            s3, abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48))));
    }
    for (; i + 16 <= dim; i += 16) {
        s0 = _mm512_add_ps(s0,
                           abs512(_mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i))));
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_add_ps(s1, abs512(d));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 move_lanes512(__m512 x, __m512 y, __m512 sx, __m512 sy, __m512 coeff,
                                   __m512 alpha) {
    __m512 v = _mm512_mul_ps(coeff, _mm512_sub_ps(_mm512_mul_ps(x, sx), _mm512_mul_ps(y, sy)));
    v = _mm512_max_ps(_mm512_min_ps(v, _mm512_set1_ps(4.0f)), _mm512_set1_ps(-4.0f));
    return _mm512_add_ps(x, _mm512_mul_ps(v, alpha));
}

static void move_clipped_avx512(float *x, const float *y, size_t dim, float sx, float sy,
                                float coeff, float alpha) {
    __m512 vsx = _mm512_set1_ps(sx), vsy = _mm512_set1_ps(sy);
    __m512 vc = _mm512_set1_ps(coeff), va = _mm512_set1_ps(alpha);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m512 v = move_lanes512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), vsx, vsy, vc, va);
        _mm512_storeu_ps(x + i, v);
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 v = move_lanes512(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i),
                                 vsx, vsy, vc, va);
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}

static float move_clipped_sqeuclidean_avx512(float *x, const float *y, size_t dim, float sx,
                                             float sy, float coeff, float alpha,
                                             const float *next) {
    __m512 vsx = _mm512_set1_ps(sx), vsy = _mm512_set1_ps(sy);
    __m512 vc = _mm512_set1_ps(coeff), va = _mm512_set1_ps(alpha);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 v0 = move_lanes512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), vsx, vsy, vc, va);
        __m512 v1 = move_lanes512(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), vsx,
                                  vsy, vc, va);
        _mm512_storeu_ps(x + i, v0);
        _mm512_storeu_ps(x + i + 16, v1);
        __m512 e0 = _mm512_sub_ps(v0, _mm512_loadu_ps(next + i));
        __m512 e1 = _mm512_sub_ps(v1, _mm512_loadu_ps(next + i + 16));
        s0 = _mm512_fmadd_ps(e0, e0, s0);
        s1 = _mm512_fmadd_ps(e1, e1, s1);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 v = move_lanes512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), vsx, vsy, vc, va);
        _mm512_storeu_ps(x + i, v);
        __m512 e = _mm512_sub_ps(v, _mm512_loadu_ps(next + i));
        s0 = _mm512_fmadd_ps(e, e, s0);
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 v = move_lanes512(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i),
                                 vsx, vsy, vc, va);
        _mm512_mask_storeu_ps(x + i, m, v);
        __m512 e = _mm512_maskz_sub_ps(m, v, _mm512_maskz_loadu_ps(m, next + i));
        s1 = _mm512_fmadd_ps(e, e, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static inline __m512 step_lanes512(__m512 x, __m512 y, __m512 step) {
    return _mm512_add_ps(x, _mm512_mul_ps(step, _mm512_sub_ps(x, y)));
}

static float move_sqeuclidean_avx512(float *x, const float *y, size_t dim, float step,
                                     const float *next) {
    __m512 vs = _mm512_set1_ps(step);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 v0 = step_lanes512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), vs);
        __m512 v1 = step_lanes512(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), vs);
        _mm512_storeu_ps(x + i, v0);
        _mm512_storeu_ps(x + i + 16, v1);
        if (next != NULL) {
            __m512 e0 = _mm512_sub_ps(v0, _mm512_loadu_ps(next + i));
            __m512 e1 = _mm512_sub_ps(v1, _mm512_loadu_ps(next + i + 16));
            s0 = _mm512_fmadd_ps(e0, e0, s0);
            s1 = _mm512_fmadd_ps(e1, e1, s1);
        }
    }
    /* Full vectors unmasked: a masked load of x cannot take its value from the masked store of
     * the previous step still in the store buffer and waits for it (13% of the inverse
     * transform's time on 784-d rows, 768 + 16). */
    for (; i + 16 <= dim; i += 16) {
        __m512 v = step_lanes512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), vs);
        _mm512_storeu_ps(x + i, v);
        if (next != NULL) {
            __m512 e = _mm512_sub_ps(v, _mm512_loadu_ps(next + i));
            s0 = _mm512_fmadd_ps(e, e, s0);
        }
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 v =
            step_lanes512(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), vs);
        _mm512_mask_storeu_ps(x + i, m, v);
        if (next != NULL) {
            __m512 e = _mm512_maskz_sub_ps(m, v, _mm512_maskz_loadu_ps(m, next + i));
            s0 = _mm512_fmadd_ps(e, e, s0);
        }
    }
    return next != NULL ? _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) : NAN;
}

const simd_kernels metric_kernels_avx512_table = {
    .sqeuclidean = sqeuclidean_avx512,
    .dot = dot_avx512,
    .manhattan = manhattan_avx512,
    .move_clipped = move_clipped_avx512,
    .move_clipped_sqeuclidean = move_clipped_sqeuclidean_avx512,
    .move_sqeuclidean = move_sqeuclidean_avx512,
    .level = "avx512",
};
