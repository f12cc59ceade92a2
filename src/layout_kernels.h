/* Kernels of the 2-D layout SGD (src/layout.c) with the SIMD variant in src/layout_avx2.c. */
#ifndef UMAPC_LAYOUT_KERNELS_H
#define UMAPC_LAYOUT_KERNELS_H

#include "umapc/common.h"

typedef struct layout_consts {
    float a, b;
    float attract; /* -2 a b */
    float repel;   /* 2 gamma b */
    float alpha;
} layout_consts;

/* Sampled edges of a 2-D point: adds to cur (x, y) alpha times the sum of the clipped gradients
 * of the attraction to emb[idx[0 .. n_attr-1]] and of the repulsion from
 * emb[idx[n_attr .. n-1]], all evaluated at cur. A negative sample equal to self, or coincident
 * with cur, is skipped as umap-learn does. */
typedef void (*layout_edge2_fn)(float *cur, const float *emb, const umapc_idx *idx, int n_attr,
                                int n, umapc_idx self, const layout_consts *c);

void umapc_layout_edge2_avx2(float *cur, const float *emb, const umapc_idx *idx, int n_attr, int n,
                             umapc_idx self, const layout_consts *c);

/* One epoch of a block of 2-D points as a list of "ops" per point, built by layout.c in the order
 * umap-learn applies them (pulls of in-edges from earlier sources, the point's sampled out-edges
 * with their negatives, pulls of the remaining in-edges). Op k is one attraction to other[k] (none
 * when -1) and n_neg[k] repulsions from tail points drawn by a counter-based hash of stream[k] (the
 * edge's random stream this epoch) and the sample number, all evaluated at the point's position
 * before the op; the ops of point lo + i are beg[i] .. beg[i + 1] - 1. */
typedef struct layout_block {
    const umapc_idx *other;
    const int32_t *n_neg;
    const uint64_t *stream;
    const int32_t *beg;
    int32_t lo, n;
    uint32_t n_tail;
    const float *self_in; /* positions of the block's points before the epoch */
    float *self_out;      /* their positions after it (may equal self_in) */
    const float *emb;     /* positions of the other ends */
    int move_other;       /* a negative sample equal to the point itself is skipped */
} layout_block;

/* Weyl increment between the counters of one edge sampling's negatives. */
#define LAYOUT_NEG_STEP 0x9e3779b97f4a7c15ULL

/* SplitMix64's finaliser, for the edges' random streams and the scalar and AVX2 negatives. */
static inline uint64_t layout_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Negative sample q (1-based) of a sampling with random stream `stream`, uniform in [0, n_tail). */
static inline umapc_idx layout_negative(uint64_t stream, int q, uint32_t n_tail) {
    uint64_t r = layout_mix64(stream + (uint64_t)q * LAYOUT_NEG_STEP);
    return (umapc_idx)(((r >> 32) * (uint64_t)n_tail) >> 32);
}

/* Edge sampling state of the layout (layout.c's plan), for the AVX-512 op builder. */
typedef struct layout_sched {
    const int64_t *out_ptr;
    const umapc_idx *out_idx;
    const float *eps, *eps_neg;
    float *next, *next_neg;
    const uint64_t *edge_id;
    const int64_t *in_ptr; /* in-edges, only with move_other */
    const umapc_idx *in_idx;
    const float *in_eps;
    float *in_next;
    uint64_t epoch_key;
    float now;
    int move_other;
    int symmetric; /* in-edges equal out-edges (indices and schedules): in_next is not used */
} layout_sched;

/* Slack the op builder may write past the last op (whole vectors). */
enum { LAYOUT_OPS_SLACK = 16 };

/* The ops of points lo .. hi-1 this epoch (the same ops as layout.c's scalar builder), advancing
 * their schedules; beg gets hi - lo + 1 offsets. */
void umapc_layout_ops_avx512(const layout_sched *s, size_t lo, size_t hi, umapc_idx *other,
                             int32_t *n_neg, uint64_t *stream, int32_t *beg);

/* Runs the ops of a block with one point per SIMD lane (16 points at a time). */
void umapc_layout_block2_avx512(const layout_block *blk, const layout_consts *c);

#endif
