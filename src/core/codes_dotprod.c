/* The code-row squared difference with the Armv8.2 dot-product instructions; compiled with
 * +dotprod and reached only where cpu.c found UMAPC_CPU_DOTPROD. */
#include "codes.h"

#include <arm_neon.h>

/* udot of |a - b| with itself sums four squared bytes into each 32-bit lane in one instruction,
 * exactly (255^2 * CODE_MAX_DIM is below 2^32). */
float code_l2_dotprod(const uint8_t *a, const uint8_t *b, size_t dim) {
    uint32x4_t s0 = vdupq_n_u32(0), s1 = s0;
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        uint8x16_t d0 = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
        uint8x16_t d1 = vabdq_u8(vld1q_u8(a + i + 16), vld1q_u8(b + i + 16));
        s0 = vdotq_u32(s0, d0, d0);
        s1 = vdotq_u32(s1, d1, d1);
    }
    for (; i + 16 <= dim; i += 16) {
        uint8x16_t d = vabdq_u8(vld1q_u8(a + i), vld1q_u8(b + i));
        s0 = vdotq_u32(s0, d, d);
    }
    uint32_t total = vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        total += (uint32_t)(d * d);
    }
    return (float)total;
}
