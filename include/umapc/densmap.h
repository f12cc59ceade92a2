/* umapc: densMAP's local radii (Narayan, Berger & Cho 2021, as umap-learn computes them). */
#ifndef UMAPC_DENSMAP_H
#define UMAPC_DENSMAP_H

#include "fuzzy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The local radius of each of the graph's n_rows points: log(1e-8 + sum_e w_e D_e / sum_e w_e)
 * over the point's edges of weight >= min_weight (the layout's pruning; 0 for all), D_e the
 * distance of the edge's two points from the k-NN lists (knn_indices/knn_dists: n_rows x k, -1 for
 * a missing neighbour), whichever of them lists the other (the larger when both do), squared with
 * `squared`. The graph is symmetric, as umap-learn assumes: a row holds all of a point's edges.
 * An edge whose points list neither the other counts with D = 0. */
UMAPC_API umapc_status umapc_dens_radii(const umapc_graph *graph, float min_weight,
                                        const umapc_idx *knn_indices, const float *knn_dists,
                                        size_t k, int squared, const umapc_run_options *opts,
                                        float *radii, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
