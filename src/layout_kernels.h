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

#endif
