/* NEON GEMM tile for exact search: 6 query rows x 16 data columns. 24 accumulators, four B vectors
 * and the six A values (two registers, used by lane) fit the 32 vector registers of AArch64. */
#include "exact_kernels.h"

#include <arm_neon.h>

#define MR 6
#define NR 16

#define ACC_DECL(r)                                                                                \
    float32x4_t c##r##_0 = vdupq_n_f32(0.0f), c##r##_1 = c##r##_0, c##r##_2 = c##r##_0,            \
                c##r##_3 = c##r##_0

#define ACC_FMA(r, areg, lane)                                                                     \
    do {                                                                                           \
        c##r##_0 = vfmaq_laneq_f32(c##r##_0, b0, areg, lane);                                      \
        c##r##_1 = vfmaq_laneq_f32(c##r##_1, b1, areg, lane);                                      \
        c##r##_2 = vfmaq_laneq_f32(c##r##_2, b2, areg, lane);                                      \
        c##r##_3 = vfmaq_laneq_f32(c##r##_3, b3, areg, lane);                                      \
    } while (0)

#define ACC_STORE(r)                                                                               \
    do {                                                                                           \
        const float32x4_t acc[4] = {c##r##_0, c##r##_1, c##r##_2, c##r##_3};                       \
        hits[r] = finish_row(acc, args, r, tile + (r)*NR);                                         \
    } while (0)

/* value = min(row_norm + col_norm - 2 acc, clamp); bit c set where value - slack <= bound. */
static inline uint32_t finish_row(const float32x4_t acc[4], const exact_tile_args *args, size_t r,
                                  float *out) {
    static const uint32_t bit_values[4] = {1, 2, 4, 8};
    const uint32x4_t bits = vld1q_u32(bit_values);
    const float32x4_t rn = vdupq_n_f32(args->row_norm[r]);
    const float32x4_t bound = vdupq_n_f32(args->row_bound[r]);
    const float32x4_t clamp = vdupq_n_f32(args->clamp_max);
    const float32x4_t minus_two = vdupq_n_f32(-2.0f);
    uint32_t h = 0;
    for (int q = 0; q < 4; q++) {
        float32x4_t base = vaddq_f32(rn, vld1q_f32(args->col_norm + 4 * q));
        float32x4_t v = vminq_f32(vfmaq_f32(base, minus_two, acc[q]), clamp);
        vst1q_f32(out + 4 * q, v);
        uint32x4_t le = vcleq_f32(vsubq_f32(v, vld1q_f32(args->col_slack + 4 * q)), bound);
        h |= vaddvq_u32(vandq_u32(le, bits)) << (4 * q);
    }
    return h;
}

static void tile_neon(size_t dim, const float *a, const float *b, const exact_tile_args *args,
                      float *tile, uint32_t *hits) {
    ACC_DECL(0);
    ACC_DECL(1);
    ACC_DECL(2);
    ACC_DECL(3);
    ACC_DECL(4);
    ACC_DECL(5);
    for (size_t k = 0; k < dim; k++) {
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
        const float32x4_t b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        /* Rows 4 and 5 in the low lanes of a 64-bit load: no read past the micro-panel's end. */
        const float32x4_t a03 = vld1q_f32(a);
        const float32x4_t a45 = vcombine_f32(vld1_f32(a + 4), vdup_n_f32(0.0f));
        ACC_FMA(0, a03, 0);
        ACC_FMA(1, a03, 1);
        ACC_FMA(2, a03, 2);
        ACC_FMA(3, a03, 3);
        ACC_FMA(4, a45, 0);
        ACC_FMA(5, a45, 1);
        a += MR;
        b += NR;
    }
    ACC_STORE(0);
    ACC_STORE(1);
    ACC_STORE(2);
    ACC_STORE(3);
    ACC_STORE(4);
    ACC_STORE(5);
}

const exact_gemm_kernel exact_kernel_neon_table = {tile_neon, MR, NR, "neon"};
