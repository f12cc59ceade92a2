/* umapc: sparse rows (CSR) and the distances between them. */
#ifndef UMAPC_SPARSE_H
#define UMAPC_SPARSE_H

#include "metric.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows in compressed sparse row form, as scipy.sparse.csr_matrix holds them: row i's nonzero
 * coordinates are indices[indptr[i] .. indptr[i + 1]) with values data[...]. Indices must be
 * strictly increasing within each row (scipy's canonical form: sorted, no duplicates); stored
 * zeros are allowed and count as zeros. The caller owns the arrays. */
typedef struct umapc_csr {
    size_t n_rows, n_cols;
    const int64_t *indptr;  /* n_rows + 1 offsets, indptr[0] == 0, nondecreasing */
    const int32_t *indices; /* indptr[n_rows] column indices in [0, n_cols) */
    const float *data;      /* indptr[n_rows] finite values */
} umapc_csr;

/* Checks the structure above and that every value is finite. */
UMAPC_API umapc_status umapc_csr_check(const umapc_csr *x, umapc_error *err);

/* Whether the metric has a sparse kernel: the metrics pynndescent computes on sparse rows
 * (euclidean, sqeuclidean, manhattan, chebyshev, minkowski, canberra, braycurtis, cosine,
 * correlation, hellinger, hamming, the binary family, jensen_shannon, symmetric_kl,
 * wasserstein_1d) and dot, inner_product and yule. Each equals the dense metric on the densified
 * rows, except
 * jensen_shannon and symmetric_kl, which follow pynndescent's sparse definition: the dense
 * divergence over the coordinates where either row is nonzero. */
UMAPC_API int umapc_metric_sparse_supported(umapc_metric_kind kind);

/* umapc_csr_check, then that the metric has a sparse kernel, that its parameters are valid for
 * x->n_cols dimensions and that the values lie in its domain (nonnegative for hellinger and the
 * divergences and wasserstein_1d, whose rows also need a positive sum; magnitudes for which the
 * float32 sums stay finite). */
UMAPC_API umapc_status umapc_sparse_check_data(const umapc_metric *metric, const umapc_csr *x,
                                               umapc_error *err);

/* Distance between row i of x and row j of y (same n_cols; both checked by the caller). */
UMAPC_API float umapc_sparse_distance(const umapc_metric *metric, const umapc_csr *x, size_t i,
                                      const umapc_csr *y, size_t j);

/* out[i * y->n_rows + j] = distance(x row i, y row j). */
UMAPC_API umapc_status umapc_sparse_pairwise_distances(const umapc_metric *metric,
                                                       const umapc_csr *x, const umapc_csr *y,
                                                       float *out, const umapc_run_options *opts,
                                                       umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
