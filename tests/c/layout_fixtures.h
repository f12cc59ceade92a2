/* Graphs and starts shared by the layout tests (test_layout.c, test_aligned.c). */
#ifndef UMAPC_TESTS_LAYOUT_FIXTURES_H
#define UMAPC_TESTS_LAYOUT_FIXTURES_H

#include "internal.h"
#include "umapc.h"

#include <stdlib.h>

/* Two cliques of `half` points each, joined by nothing; weights 1 or 0.5 along a ring inside each
 * clique so that they differ. */
static inline void make_two_cliques(umapc_graph *g, size_t half) {
    size_t n = 2 * half, deg = half - 1;
    g->n_rows = g->n_cols = n;
    g->nnz = n * deg;
    g->indptr = malloc((n + 1) * sizeof *g->indptr);
    g->indices = malloc(g->nnz * sizeof *g->indices);
    g->data = malloc(g->nnz * sizeof *g->data);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        g->indptr[i] = (int64_t)at;
        size_t base = i < half ? 0 : half;
        for (size_t j = base; j < base + half; j++) {
            if (j != i) {
                g->indices[at] = (umapc_idx)j;
                g->data[at++] = (i + j) % 3 == 0 ? 1.0f : 0.5f;
            }
        }
    }
    g->indptr[n] = (int64_t)at;
}

/* n 2-D points uniform in [0, 10)^2. */
static inline void random_embedding(float *emb, size_t n, uint64_t seed) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < 2 * n; i++) {
        emb[i] = (float)(10.0 * umapc_rng_uniform(&rng));
    }
}

#endif
