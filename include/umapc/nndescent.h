/* umapc: all-points k-NN graph by NN-descent (Dong, Moses & Li 2011) seeded from a forest of
 * random-projection trees, as pynndescent builds it, without an index left behind. */
#ifndef UMAPC_NNDESCENT_H
#define UMAPC_NNDESCENT_H

#include "common.h"
#include "metric.h"
#include "sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_nndescent_options {
    int n_threads;    /* <= 0: all cores. Default 0. */
    uint64_t seed;    /* Default 0. The result depends on it, never on n_threads. */
    size_t n_trees;   /* random-projection trees for the initial graph; 0: from n. Default 0. */
    size_t leaf_size; /* most points in a tree leaf; 0: from k. Default 0. */
    size_t max_candidates; /* new and old candidates sampled per point and iteration; 0: from k.
                              Default 0. */
    size_t max_iters;      /* NN-descent iterations at most; 0: from n. Default 0. */
    double delta;          /* stop when fewer than delta * n * k heap entries changed. Default
                              0.001. */
    size_t extra;          /* neighbours kept beyond k - 1 while searching; more raises recall.
                              Default 1. */
    double min_recall;     /* recall@k, estimated against exact search on 256 sampled rows, below
                              which the search starts again with heaps sized to reach halfway
                              to 1 (hard data: text embeddings, word vectors, single-cell
                              scores); at most two restarts; 0: no check. Default 0.99. */
} umapc_nndescent_options;

UMAPC_API void umapc_nndescent_options_init(umapc_nndescent_options *opts);

/* How a graph was made, for callers that report it. */
typedef struct umapc_nndescent_outcome {
    int exact;              /* 1: the exact graph (cheaper than a search that may need a second
                               one, or than the second search itself) */
    size_t searches;        /* NN-descent searches run: 0, 1, or more after a short recall */
    size_t heap_size;       /* neighbours kept per point by the last search */
    double recall_estimate; /* the last search's sampled recall@k; 1 when unchecked or exact */
} umapc_nndescent_outcome;

/* Row i of the n x k result holds i itself at distance 0, then its k-1 nearest other points found
 * (true distances, ascending; ties by index). Rows with fewer than k-1 others are padded with -1
 * and inf. Any metric: rows are prepared once (normalised for cosine, ...). Euclidean data of
 * small integers (pixels) is measured on lossless 8-bit codes. outcome (may be NULL) receives how
 * the graph was made. */
UMAPC_API umapc_status umapc_nndescent_knn_graph(
    const umapc_metric *metric, const float *data, size_t n, size_t dim, size_t k,
    const umapc_nndescent_options *opts, const umapc_progress *progress,
    umapc_nndescent_outcome *outcome, umapc_idx *indices, float *distances, umapc_error *err);

/* umapc_nndescent_knn_graph on sparse rows (checked with umapc_sparse_check_data; the metric must
 * have a sparse kernel). The trees split a random projection of the sparse rows, the search
 * measures pairs with the sparse kernels; small inputs take the exact sparse graph. */
UMAPC_API umapc_status umapc_nndescent_knn_graph_csr(
    const umapc_metric *metric, const umapc_csr *data, size_t k,
    const umapc_nndescent_options *opts, const umapc_progress *progress,
    umapc_nndescent_outcome *outcome, umapc_idx *indices, float *distances, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
