/* NEON versions of the hot distance kernels (AArch64, where Advanced SIMD is part of the base
 * architecture, so no extra compiler flags); reached only through simd_kernels_at /
 * simd_kernels_select. */
#include "metric.h"

#include <arm_neon.h>
#include <math.h>

/* Four independent accumulators hide the FMA latency (4 cycles, 2 per cycle on Neoverse cores). */
#define UNROLL 16

static float sqeuclidean_neon(const float *a, const float *b, size_t dim) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    for (; i + 4 <= dim; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    /* The tail is read element by element: rows need no padding past their end. */
    float total = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        total += d * d;
    }
    return total;
}

static float dot_neon(const float *a, const float *b, size_t dim) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= dim; i += 4) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    }
    float total = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++) {
        total += a[i] * b[i];
    }
    return total;
}

static float manhattan_neon(const float *a, const float *b, size_t dim) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + UNROLL <= dim; i += UNROLL) {
        s0 = vaddq_f32(s0, vabdq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
        s1 = vaddq_f32(s1, vabdq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4)));
        s2 = vaddq_f32(s2, vabdq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8)));
        s3 = vaddq_f32(s3, vabdq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12)));
    }
    for (; i + 4 <= dim; i += 4) {
        s0 = vaddq_f32(s0, vabdq_f32(vld1q_f32(a + i), vld1q_f32(b + i)));
    }
    float total = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        total += d < 0.0f ? -d : d;
    }
    return total;
}

static void move_clipped_neon(float *x, const float *y, size_t dim, float sx, float sy, float coeff,
                              float alpha) {
    float32x4_t vsx = vdupq_n_f32(sx), vsy = vdupq_n_f32(sy);
    float32x4_t vc = vdupq_n_f32(coeff), va = vdupq_n_f32(alpha);
    float32x4_t hi = vdupq_n_f32(4.0f), lo = vdupq_n_f32(-4.0f);
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float32x4_t xv = vld1q_f32(x + i), yv = vld1q_f32(y + i);
        /* separate multiplies and subtraction (no fused vmls): the scalar table's roundings */
        float32x4_t v = vmulq_f32(vc, vsubq_f32(vmulq_f32(xv, vsx), vmulq_f32(yv, vsy)));
        v = vmaxq_f32(vminq_f32(v, hi), lo);
        vst1q_f32(x + i, vaddq_f32(xv, vmulq_f32(v, va)));
    }
    for (; i < dim; i++) {
        x[i] = move_clipped_one(x[i], y[i], sx, sy, coeff, alpha);
    }
}

static float move_clipped_sqeuclidean_neon(float *x, const float *y, size_t dim, float sx, float sy,
                                           float coeff, float alpha, const float *next) {
    float32x4_t vsx = vdupq_n_f32(sx), vsy = vdupq_n_f32(sy);
    float32x4_t vc = vdupq_n_f32(coeff), va = vdupq_n_f32(alpha);
    float32x4_t hi = vdupq_n_f32(4.0f), lo = vdupq_n_f32(-4.0f);
    float32x4_t s0 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float32x4_t xv = vld1q_f32(x + i), yv = vld1q_f32(y + i);
        float32x4_t v = vmulq_f32(vc, vsubq_f32(vmulq_f32(xv, vsx), vmulq_f32(yv, vsy)));
        v = vmaxq_f32(vminq_f32(v, hi), lo);
        xv = vaddq_f32(xv, vmulq_f32(v, va));
        vst1q_f32(x + i, xv);
        float32x4_t e = vsubq_f32(xv, vld1q_f32(next + i));
        s0 = vfmaq_f32(s0, e, e);
    }
    float total = vaddvq_f32(s0);
    for (; i < dim; i++) {
        x[i] = move_clipped_one(x[i], y[i], sx, sy, coeff, alpha);
        float e = x[i] - next[i];
        total += e * e;
    }
    return total;
}

static float move_sqeuclidean_neon(float *x, const float *y, size_t dim, float step,
                                   const float *next) {
    float32x4_t vs = vdupq_n_f32(step), s0 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        float32x4_t xv = vld1q_f32(x + i);
        /* a multiply and an add (no fused vmla): the scalar table's roundings */
        xv = vaddq_f32(xv, vmulq_f32(vs, vsubq_f32(xv, vld1q_f32(y + i))));
        vst1q_f32(x + i, xv);
        if (next != NULL) {
            float32x4_t e = vsubq_f32(xv, vld1q_f32(next + i));
            s0 = vfmaq_f32(s0, e, e);
        }
    }
    float total = vaddvq_f32(s0);
    for (; i < dim; i++) {
        x[i] = move_one(x[i], y[i], step);
        if (next != NULL) {
            float e = x[i] - next[i];
            total += e * e;
        }
    }
    return next != NULL ? total : NAN;
}

const simd_kernels metric_kernels_neon_table = {
    .sqeuclidean = sqeuclidean_neon,
    .dot = dot_neon,
    .manhattan = manhattan_neon,
    .move_clipped = move_clipped_neon,
    .move_clipped_sqeuclidean = move_clipped_sqeuclidean_neon,
    .move_sqeuclidean = move_sqeuclidean_neon,
    .level = "neon",
};
