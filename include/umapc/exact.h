/* umapc: exact (brute-force) nearest-neighbour search. */
#ifndef UMAPC_EXACT_H
#define UMAPC_EXACT_H

#include "metric.h"
#include "sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_exact_options {
    int n_threads; /* <= 0: all cores. Default 0. */
} umapc_exact_options;

UMAPC_API void umapc_exact_options_init(umapc_exact_options *opts);

/* For each of the nq query rows, the k data rows nearest under metric, sorted by distance with
 * ties broken by lower index; distances equal umapc_distance() on the same rows. filter_mask (n
 * bytes, nonzero = may be returned) may be NULL. When fewer than k rows are allowed the rest of the
 * row is padded with index -1 and distance +inf. indices and distances are nq x k, row-major.
 * data and queries are read only and stay the caller's.
 * Euclidean, sqeuclidean, cosine, correlation, dot and inner_product run as a blocked matrix
 * multiply followed by an exact re-rank with umapc_distance; they hold a packed copy of data
 * (about n x dim floats) for the duration of the call. Other metrics evaluate umapc_distance
 * directly. Progress is reported under the stage "exact search" with total = nq. */
UMAPC_API umapc_status umapc_exact_search(const umapc_metric *metric, const float *data, size_t n,
                                          size_t dim, const float *queries, size_t nq, size_t k,
                                          const uint8_t *filter_mask,
                                          const umapc_exact_options *opts,
                                          const umapc_progress *progress, umapc_idx *indices,
                                          float *distances, umapc_error *err);

/* The all-points graph UMAP needs: row i holds i itself at distance 0, then the k-1 nearest other
 * rows (ties by lower index). indices and distances are n x k. */
UMAPC_API umapc_status umapc_exact_knn_graph(const umapc_metric *metric, const float *data,
                                             size_t n, size_t dim, size_t k,
                                             const umapc_exact_options *opts,
                                             const umapc_progress *progress, umapc_idx *indices,
                                             float *distances, umapc_error *err);

/* umapc_exact_search and umapc_exact_knn_graph on sparse rows (umapc_csr, checked with
 * umapc_sparse_check_data; queries and data with the same column count). The metric must have a
 * sparse kernel (umapc_metric_sparse_supported). Same results as on the densified rows, up to the
 * float rounding of the distances. */
UMAPC_API umapc_status umapc_exact_search_csr(const umapc_metric *metric, const umapc_csr *data,
                                              const umapc_csr *queries, size_t k,
                                              const uint8_t *filter_mask,
                                              const umapc_exact_options *opts,
                                              const umapc_progress *progress, umapc_idx *indices,
                                              float *distances, umapc_error *err);

UMAPC_API umapc_status umapc_exact_knn_graph_csr(const umapc_metric *metric, const umapc_csr *data,
                                                 size_t k, const umapc_exact_options *opts,
                                                 const umapc_progress *progress, umapc_idx *indices,
                                                 float *distances, umapc_error *err);

/* The k nearest neighbours of each of n_rows points from precomputed distances (umap-learn's
 * metric="precomputed"): a dense n_rows x n_cols row-major matrix (indptr NULL), or a CSR matrix
 * (indptr, cols, values) whose stored entries are a row's only candidates. Sorted by distance,
 * ties by lower column; an infinite distance comes back as index -1 (no neighbour). Errors for a
 * negative or NaN distance, a column out of range, or a row with fewer than k candidates. */
UMAPC_API umapc_status umapc_exact_knn_precomputed(const float *values, const int64_t *indptr,
                                                   const umapc_idx *cols, size_t n_rows,
                                                   size_t n_cols, size_t k,
                                                   const umapc_exact_options *opts,
                                                   umapc_idx *indices, float *distances,
                                                   umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
