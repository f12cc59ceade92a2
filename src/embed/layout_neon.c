/* The 2-D layout executor (layout_lanes.h) with 4 lanes of NEON (AArch64). */
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#define W 4
typedef float32x4_t VF;
typedef int32x4_t VI;
typedef uint32x4_t VM;

static inline VI gather_i32(const int32_t *base, VI idx, VM m) {
    int32_t i[4], out[4];
    uint32_t mm[4];
    vst1q_s32(i, idx);
    vst1q_u32(mm, m);
    for (int l = 0; l < 4; l++) {
        out[l] = mm[l] ? base[i[l]] : 0;
    }
    return vld1q_s32(out);
}

static inline int mask_bits(VM m) {
    const uint32x4_t bit = {1, 2, 4, 8};
    return (int)vaddvq_u32(vandq_u32(m, bit));
}

#define VF_SET1(x)         vdupq_n_f32(x)
#define VI_SET1(x)         vdupq_n_s32(x)
#define VF_ADD(a, b)       vaddq_f32(a, b)
#define VF_SUB(a, b)       vsubq_f32(a, b)
#define VF_MUL(a, b)       vmulq_f32(a, b)
#define VF_DIV(a, b)       vdivq_f32(a, b)
#define VF_MIN(a, b)       vminq_f32(a, b)
#define VF_MAX(a, b)       vmaxq_f32(a, b)
#define VF_GT(a, b)        vcgtq_f32(a, b)
#define VF_SEL(m, y, n)    vbslq_f32(m, y, n)
#define VI_SEL(m, y, n)    vbslq_s32(m, y, n)
#define VI_ADD(a, b)       vaddq_s32(a, b)
#define VI_SUB(a, b)       vsubq_s32(a, b)
#define VI_AND(a, b)       vandq_s32(a, b)
#define VI_OR(a, b)        vorrq_s32(a, b)
#define VI_SRL(a, n)       vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(a), n))
#define VI_SLL(a, n)       vshlq_n_s32(a, n)
#define VI_GT(a, b)        vcgtq_s32(a, b)
#define VF_ROUND(x)        vrndnq_f32(x)
#define VI_FROM_VF(x)      vcvtq_s32_f32(x)
#define VF_FROM_VI(x)      vcvtq_f32_s32(x)
#define VF_AS_VI(x)        vreinterpretq_s32_f32(x)
#define VI_AS_VF(x)        vreinterpretq_f32_s32(x)
#define VM_AND(a, b)       vandq_u32(a, b)
#define VM_BITS(m)         mask_bits(m)
#define VI_LOAD(p)         vld1q_s32(p)
#define VI_STORE(p, v)     vst1q_s32(p, v)
#define VF_LOAD(p)         vld1q_f32(p)
#define VF_STORE(p, v)     vst1q_f32(p, v)
#define VI_GATHER(b, i, m) gather_i32(b, i, m)

#define VI_XOR(a, b)    veorq_s32(a, b)
#define VM_NOT_EQ(a, b) vmvnq_u32(vceqq_s32(a, b))
#define VI_MULLO(a, b)  vmulq_s32(a, b)

/* high halves of the 32x32-bit unsigned products */
static inline VI mulhi_u32(VI a, VI b) {
    uint32x4_t ua = vreinterpretq_u32_s32(a), ub = vreinterpretq_u32_s32(b);
    uint64x2_t lo = vmull_u32(vget_low_u32(ua), vget_low_u32(ub));
    uint64x2_t hi = vmull_high_u32(ua, ub);
    return vreinterpretq_s32_u32(vcombine_u32(vshrn_n_u64(lo, 32), vshrn_n_u64(hi, 32)));
}
#define VI_MULHI_U32(a, b) mulhi_u32(a, b)

/* x and y of the points idx (0 where !m). */
static inline void gather_xy(const float *emb, VI idx, VM m, VF *x, VF *y) {
    int32_t i[4];
    uint32_t mm[4];
    float xs[4], ys[4];
    vst1q_s32(i, idx);
    vst1q_u32(mm, m);
    for (int l = 0; l < 4; l++) {
        xs[l] = mm[l] ? emb[2 * (size_t)i[l]] : 0.0f;
        ys[l] = mm[l] ? emb[2 * (size_t)i[l] + 1] : 0.0f;
    }
    *x = vld1q_f32(xs);
    *y = vld1q_f32(ys);
}
#define GATHER_XY(e, i, m, x, y) gather_xy(e, i, m, x, y)

#include "layout_lanes.h"

void umapc_layout_exec2_neon(const layout_block *blk, const layout_consts *c) {
    lanes_exec2(blk, c);
}
