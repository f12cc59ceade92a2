/* umapc: the fuzzy simplicial set (UMAP's weighted k-NN graph), as umap-learn defines it. */
#ifndef UMAPC_FUZZY_H
#define UMAPC_FUZZY_H

#include "common.h"
#include "metric.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A sparse matrix in CSR form with sorted, unique columns in each row. As an input it is a view of
 * the caller's arrays; as an output of umapc_fuzzy_simplicial_set the arrays belong to the graph
 * and are released with umapc_graph_free. */
typedef struct umapc_graph {
    size_t n_rows;
    size_t n_cols;
    size_t nnz;
    int64_t *indptr;    /* n_rows + 1 offsets into indices/data */
    umapc_idx *indices; /* nnz column indices, ascending within a row */
    float *data;        /* nnz weights */
} umapc_graph;

/* Frees the arrays of a graph produced by the library and zeroes it; safe on a zeroed graph. */
UMAPC_API void umapc_graph_free(umapc_graph *graph);

typedef struct umapc_fuzzy_options {
    /* Number of nearest neighbours assumed connected (interpolated when fractional). umap-learn's
     * transform uses max(0, local_connectivity - 1). Default 1.0. */
    double local_connectivity;
    /* Weight of the fuzzy union against the fuzzy intersection when symmetrising. Default 1.0. */
    double set_op_mix_ratio;
    /* Symmetrise (needs n_rows == n_vertices). Without it the directed memberships are returned.
     * Default 1. */
    int apply_set_operations;
    /* Rows and columns index different point sets (transform: new points against training
     * points), so column i of row i is not the point itself. Default -1: bipartite exactly when
     * apply_set_operations is 0. */
    int bipartite;
    double bandwidth; /* target of the sigma search is log2(k) * bandwidth. Default 1.0. */
    int n_iter;       /* binary-search steps for sigma. Default 64. */
    int n_threads;    /* <= 0: all cores. Default 0. */
} umapc_fuzzy_options;

UMAPC_API void umapc_fuzzy_options_init(umapc_fuzzy_options *opts);

/* Per-row rho (distance to the local_connectivity-th nonzero neighbour, interpolated) and sigma
 * (binary search so that sum_j exp(-max(0, d_j - rho) / sigma) over columns 1..k-1 equals
 * log2(k) * bandwidth, tolerance 1e-5, floored at 1e-3 times the row's mean distance, or the mean
 * over all rows when rho is 0). knn_indices (may be NULL) marks missing neighbours with -1; they
 * are left out of every sum and mean. Arrays are n_rows x k, row-major. */
UMAPC_API umapc_status umapc_smooth_knn_dist(const umapc_idx *knn_indices, const float *knn_dists,
                                             size_t n_rows, size_t k,
                                             const umapc_fuzzy_options *opts, float *sigmas,
                                             float *rhos, umapc_error *err);

/* umap-learn's fuzzy_simplicial_set from a k-NN graph: memberships exp(-(d - rho) / sigma), then
 * (with apply_set_operations) mix * (P + P^T - P.*P^T) + (1 - mix) * P.*P^T, explicit zeros
 * removed, duplicate neighbours summed. graph receives an n_rows x n_vertices matrix the caller
 * frees with umapc_graph_free; sigmas and rhos (n_rows each, may be NULL) receive the smoothing
 * parameters. */
UMAPC_API umapc_status umapc_fuzzy_simplicial_set(
    const umapc_idx *knn_indices, const float *knn_dists, size_t n_rows, size_t k,
    size_t n_vertices, const umapc_fuzzy_options *opts, const umapc_progress *progress,
    umapc_graph *graph, float *sigmas, float *rhos, umapc_error *err);

/* Supervised UMAP with categorical targets (umap-learn's
 * discrete_metric_simplicial_set_intersection without a metric): in place, the weight of every edge
 * between points of different labels is multiplied by exp(-far_dist) and of every edge touching an
 * unlabelled point (label < 0) by exp(-unknown_dist). labels has one entry per point of the square
 * graph. Zeros are left for umapc_fuzzy_reset_local_connectivity to remove. */
UMAPC_API umapc_status umapc_fuzzy_categorical_intersection(umapc_graph *graph,
                                                            const int64_t *labels,
                                                            double unknown_dist, double far_dist,
                                                            umapc_error *err);

/* Supervised UMAP with umap-learn's other discrete targets (ordinal, count: its
 * discrete_metric_simplicial_set_intersection with a metric): in place, the weight of every edge
 * (i, j) is multiplied by exp(-scale * d(values_i, values_j)), values holding dim floats per point
 * of the square graph, in metric's domain (umapc_metric_check_data). Zeros are left for
 * umapc_fuzzy_reset_local_connectivity to remove. */
UMAPC_API umapc_status umapc_fuzzy_metric_intersection(umapc_graph *graph,
                                                       const umapc_metric *metric,
                                                       const float *values, size_t dim,
                                                       double scale, umapc_error *err);

/* umap-learn's reset_local_connectivity: every row divided by its largest weight, with
 * reset_local_metric each row then raised to the power that makes its sum log2(15)
 * (reprocess_row), then the fuzzy union with the transpose, P + P^T - P.*P^T, without zeros. out
 * receives a graph the caller frees with umapc_graph_free. */
UMAPC_API umapc_status umapc_fuzzy_reset_local_connectivity(const umapc_graph *graph,
                                                            int reset_local_metric,
                                                            const umapc_run_options *opts,
                                                            umapc_graph *out, umapc_error *err);

/* How umapc_fuzzy_combine mixes two fuzzy sets on the same points. */
typedef enum umapc_set_op {
    UMAPC_SET_INTERSECTION = 0, /* general_simplicial_set_intersection with weight */
    UMAPC_SET_UNION = 1,        /* general_simplicial_set_union */
    UMAPC_SET_DIFFERENCE = 2    /* the intersection with the right side's complement, 1 - w */
} umapc_set_op;

/* umap-learn's set operations on two square graphs on the same points (a supervised fit's data
 * and target graphs, or two models' graphs for model arithmetic), on the union of their entries
 * (the difference: on the left side's),
 * a side's missing entry counted as half its smallest weight (at least 1e-8; for the right side
 * of an intersection or difference at most 1e-4). Union: l + r - l r. Intersection, weight w in
 * [0, 1] the right side's share: l^((1 - w) / w) r for w >= 0.5, else l r^(w / (1 - w)), an entry
 * with both sides at their floor keeping their sum. out receives a graph the caller frees. */
UMAPC_API umapc_status umapc_fuzzy_combine(const umapc_graph *left, const umapc_graph *right,
                                           umapc_set_op op, double weight,
                                           const umapc_run_options *opts, umapc_graph *out,
                                           umapc_error *err);

/* Checks that graph is well formed: offsets non-decreasing from 0 to nnz, columns within range and
 * strictly ascending in each row, weights finite and non-negative. */
UMAPC_API umapc_status umapc_graph_validate(const umapc_graph *graph, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
