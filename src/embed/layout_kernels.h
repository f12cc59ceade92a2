/* The layout SGD's interface between its one schedule (src/embed/layout.c: which edges fire in
 * an epoch, which negatives each draws) and the executors that only do the arithmetic: the
 * scalar one in layout.c (any dimension) and the 2-D lane-per-point ones (layout_lanes.h,
 * instantiated per instruction set). Every executor evaluates the same float expressions in the
 * same order, with no fused multiply-add (the build passes -ffp-contract=off), so an embedding
 * is bit-identical on every CPU. */
#ifndef UMAPC_LAYOUT_KERNELS_H
#define UMAPC_LAYOUT_KERNELS_H

#include "umapc/common.h"

#include <math.h>
#include <stdint.h>

typedef struct layout_consts {
    float a, b;
    float attract; /* -2 a b */
    float repel;   /* 2 gamma b */
    float alpha;   /* learning rate of this epoch */
    int b_is_one;  /* d^(2b) is d2 itself */
} layout_consts;

/* One epoch of a block of points as lists of ops, one per sampled out-edge of a point, in
 * umap-learn's order. An op is the edge's attraction and its negative samples, all evaluated at
 * the point's position after the previous op: their clipped gradients are summed (attraction
 * first, then the negatives in order) and the point moves by alpha times the sum. (umap-learn
 * moves the point after each of them; evaluating a sampling's five or so gradients at one position
 * lets them run side by side, with no measurable difference in the embeddings: docs/benchmarks.md.)
 *
 * The ops of point lo + i are beg[i] .. beg[i + 1] - 1. Op k pulls the point toward
 * emb[other[k] & ~LAYOUT_ATTRACT_BIT] when other[k] has that bit, and has no attraction when
 * other[k] is LAYOUT_SKIP (an edge to the point itself). Its negative samples are
 * layout_negative(key[k], q, n_tail) for q = 1 .. n_neg[k], except those that draw the point
 * itself (self_base >= 0: point lo + i is point self_base + lo + i of emb), which umap-learn skips.
 * An attraction with slot[k] = s >= 0 writes its move to moves[dim * s ..]: the other end of the
 * edge takes it back with the opposite sign after the epoch, so both ends move by the same
 * gradient as in umap-learn, without one thread writing another's point. */
#define LAYOUT_ATTRACT_BIT 0x80000000u
#define LAYOUT_SKIP        0x7fffffff
/* The slot of an attraction whose other end does not move (transform). */
enum { LAYOUT_NO_SLOT = -1 };

/* densMAP's state in an epoch where it is on (layout.c): per point its data radius R, its current
 * embedding radius re and its sum of memberships phi; per edge its weight mu; and the epoch's
 * statistics. */
typedef struct layout_dens {
    const float *R, *re, *phi_sum, *mu;
    float lambda_mu_tot_n; /* lambda * mu_tot / n */
    float re_std, re_mean, re_cov;
} layout_dens;

typedef struct layout_block {
    const int32_t *other;
    const int32_t *slot;
    const int32_t *n_neg;
    const uint32_t *key;
    const int32_t *beg;
    int32_t lo, n;
    int32_t self_base;    /* fit: 0 (the block's points are in emb); transform: -1 */
    uint32_t n_tail;      /* points in emb */
    const float *self_in; /* positions of the block's points before the epoch */
    float *self_out;      /* after it (may equal self_in) */
    const float *emb;     /* positions of the other points, fixed during the epoch */
    float *moves;
    const layout_dens *dens; /* densMAP this epoch, else NULL */
} layout_block;

typedef void (*layout_exec2_fn)(const layout_block *blk, const layout_consts *c);

/* Any dimension, one point at a time: the reference the 2-D SIMD executors agree with bit for bit
 * (the same expressions, d2 summed over dimensions in order). cur and sum have room for dim
 * floats each. */
void umapc_layout_exec_scalar(const layout_block *blk, const layout_consts *c, size_t dim,
                              float *cur, float *sum);

void umapc_layout_exec2_avx2(const layout_block *blk, const layout_consts *c);
void umapc_layout_exec2_avx512(const layout_block *blk, const layout_consts *c);
void umapc_layout_exec2_neon(const layout_block *blk, const layout_consts *c);

/* Negative sample q (1-based) of a sampling whose random stream is `key`: uniform in [0, n_tail),
 * from a 32-bit counter hash (murmur3's finaliser) that the SIMD executors evaluate a lane at a
 * time, mapped to the range by a multiply instead of a modulo. */
static inline int32_t layout_negative(uint32_t key, uint32_t q, uint32_t n_tail) {
    uint32_t h = key + q * 0x9e3779b9u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (int32_t)(((uint64_t)h * n_tail) >> 32);
}

/* log2 and exp2 as polynomials, so that d^(2b) costs a third of powf and, above all, rounds the
 * same on every CPU (libm's powf differs between platforms). The vector executors run the same
 * Horner steps on these coefficients: log2(m) = e + t P(t) with t = m - 1, m in
 * [sqrt(1/2), sqrt(2)); exp2(y) = 2^r Q(y - r) with r = rint(y). */
static const float LAYOUT_LOG2_POLY[9] = {1.261500205e-01f,  -2.074235521e-01f, 2.156704277e-01f,
                                          -2.389200412e-01f, 2.879182434e-01f,  -3.607048381e-01f,
                                          4.809106123e-01f,  -7.213473333e-01f, 1.442695004e+00f};
static const float LAYOUT_EXP2_POLY[7] = {1.546973610e-04f,
                                          1.340043695e-03f,
                                          9.618025590e-03f,
                                          5.550327202e-02f,
                                          2.402265121e-01f,
                                          6.931472067e-01f,
                                          1.0f};

static inline float layout_horner(const float *coeff, int n, float t) {
    float p = coeff[0];
    for (int i = 1; i < n; i++) {
        p = p * t + coeff[i];
    }
    return p;
}

static inline float layout_log2(float x) {
    union {
        float f;
        int32_t i;
    } v = {x};
    int32_t e = ((v.i >> 23) & 0xff) - 127;
    v.i = (v.i & 0x007fffff) | 0x3f800000;
    float m = v.f;
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    float t = m - 1.0f;
    return (float)e + t * layout_horner(LAYOUT_LOG2_POLY, 9, t);
}

static inline float layout_exp2(float y) {
    y = y < -126.0f ? -126.0f : (y > 126.0f ? 126.0f : y);
    float r = __builtin_rintf(y);
    /* A NaN exponent (b * log2(d2) with b out of float range) passes the clamp, and its int cast
     * is undefined in C: it gets the value the vector conversions give (INT32_MIN), and the shift
     * is done unsigned. The result is NaN either way. */
    int32_t ri = r == r ? (int32_t)r : INT32_MIN;
    union {
        uint32_t u;
        float f;
    } scale = {.u = ((uint32_t)ri + 127u) << 23};
    return layout_horner(LAYOUT_EXP2_POLY, 7, y - r) * scale.f;
}

/* Smallest squared distance the gradients are evaluated at: the polynomials need normal floats, and
 * a pair closer than that is treated as coincident (umap-learn: no move). */
#define LAYOUT_MIN_D2 1e-30f

static inline float layout_clip(float v) {
    return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v);
}

/* Gradient coefficient at squared distance d2 > 0: attraction -2ab d2^(b-1) / (a d2^b + 1), or
 * repulsion 2 gamma b / ((0.001 + d2)(a d2^b + 1)). */
static inline float layout_coeff(float d2, int attract, const layout_consts *c) {
    float x = d2 > LAYOUT_MIN_D2 ? d2 : LAYOUT_MIN_D2;
    float pw = c->b_is_one ? x : layout_exp2(c->b * layout_log2(x));
    float apw1 = c->a * pw + 1.0f;
    return attract ? (c->attract * pw) / (x * apw1) : c->repel / ((x + 0.001f) * apw1);
}

/* densMAP's extra attraction coefficient for the fit's edge e between point j and point t at
 * squared distance d2 > 0, umap-learn's grad_cor_coeff. Scalar in every executor (the SIMD ones
 * call it a lane at a time), so that its libm powers round alike everywhere. */
static inline float layout_dens_coeff(const layout_dens *dn, const layout_consts *c, float d2,
                                      int32_t j, int32_t t, int32_t e) {
    float pw = powf(d2, c->b), phi = 1.0f / (1.0f + c->a * pw);
    float dphi = c->a * c->b * powf(d2, c->b - 1.0f) / (1.0f + c->a * pw);
    float drk = phi / dn->phi_sum[t] * ((1.0f - c->b * (1.0f - phi)) / expf(dn->re[t]) + dphi);
    float drj = phi / dn->phi_sum[j] * ((1.0f - c->b * (1.0f - phi)) / expf(dn->re[j]) + dphi);
    float std2 = dn->re_std * dn->re_std;
    float wk = dn->R[t] - dn->re_cov * (dn->re[t] - dn->re_mean) / std2;
    float wj = dn->R[j] - dn->re_cov * (dn->re[j] - dn->re_mean) / std2;
    return dn->lambda_mu_tot_n * (wk * drk + wj * drj) / (dn->mu[e] * dn->re_std);
}

#endif
