/* umapc: the distinct rows of a matrix (umap-learn's unique=True). */
#ifndef UMAPC_UNIQUE_H
#define UMAPC_UNIQUE_H

#include "common.h"
#include "sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The distinct rows of the n x dim row-major matrix x, compared bit for bit (as numpy's
 * np.unique(x, axis=0) compares them): first[0 .. *n_unique - 1] receives the first row of each in
 * ascending order, inverse[i] (n entries) the position in first of row i's copy. Both are caller
 * buffers of n entries. */
UMAPC_API umapc_status umapc_unique_rows(const float *x, size_t n, size_t dim, umapc_idx *first,
                                         umapc_idx *inverse, size_t *n_unique, umapc_error *err);

/* The same for checked sparse rows (umapc_csr_check): two rows are equal when they hold the same
 * columns with the same values bit for bit, so stored zeros must be removed first for rows equal
 * as matrices to compare equal. */
UMAPC_API umapc_status umapc_unique_csr_rows(const umapc_csr *x, umapc_idx *first,
                                             umapc_idx *inverse, size_t *n_unique,
                                             umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
