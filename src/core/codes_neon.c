/* NEON kernels for 8-bit codes (AArch64 base instructions); reached only through code_l2_at and
 * the item kernels of hnsw_quant.c. */
#include "codes.h"

#include <arm_neon.h>

/* |a - b| fits a byte, its square 16 bits: one absolute difference and one widening multiply per
 * byte, pairwise-added into 32-bit lanes, all exact. */
float code_l2_neon(const uint8_t *a, const uint8_t *b, size_t dim) {
    uint32x4_t s0 = vdupq_n_u32(0), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        uint8x16_t d = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
        s0 = vpadalq_u16(s0, vmull_u8(vget_low_u8(d), vget_low_u8(d)));
        s1 = vpadalq_u16(s1, vmull_high_u8(d, d));
    }
    uint32_t total = vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        total += (uint32_t)(d * d);
    }
    return (float)total;
}

float code_mixed_neon(const float *q, const uint8_t *c, size_t dim) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        uint16x8_t w = vmovl_u8(vld1_u8(c + i));
        float32x4_t lo = vcvtq_f32_u32(vmovl_u16(vget_low_u16(w)));
        float32x4_t hi = vcvtq_f32_u32(vmovl_high_u16(w));
        float32x4_t d0 = vsubq_f32(vld1q_f32(q + i), lo);
        float32x4_t d1 = vsubq_f32(vld1q_f32(q + i + 4), hi);
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
    }
    float total = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < dim; i++) {
        float d = q[i] - (float)c[i];
        total += d * d;
    }
    return total;
}
