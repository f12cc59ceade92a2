/* umapc: the all-points k-NN graph UMAP starts from. */
#ifndef UMAPC_KNN_GRAPH_H
#define UMAPC_KNN_GRAPH_H

#include "hnsw.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_knn_graph_options {
    int n_threads;        /* <= 0: all cores. Default 0. */
    double target_recall; /* recall@k the self-searches' beam width is chosen for: 0.99 and
                             above 2k + 16, 0.95 and above 1.5k + 16, else k + 16 (at least 32).
                             Default 0.99. */
} umapc_knn_graph_options;

UMAPC_API void umapc_knn_graph_options_init(umapc_knn_graph_options *opts);

/* Row i of the n x k result holds i itself at distance 0, then its k-1 nearest other points as
 * found from the index, sorted by distance. Each point is searched for from
 * itself on layer 0 (on 8-bit codes of the rows where the metric allows, re-ranked on the floats),
 * so an index built only for this graph needs no more than ef_construction ~ 40 at M = 16 for
 * recall@15 >= 0.99 on Fashion-MNIST. Threads and the result do not interact: the output is the
 * same for any n_threads. */
UMAPC_API umapc_status umapc_hnsw_knn_graph(const umapc_hnsw *index, size_t k,
                                            const umapc_knn_graph_options *opts,
                                            const umapc_progress *progress, umapc_idx *indices,
                                            float *distances, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
