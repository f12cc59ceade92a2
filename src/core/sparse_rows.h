/* Internal side of the sparse metrics: CSR rows in the prepared form the searches compare (exact,
 * NN-descent), with the per-row terms their surrogates need. */
#ifndef UMAPC_SRC_SPARSE_ROWS_H
#define UMAPC_SRC_SPARSE_ROWS_H

#include "metric.h"
#include "umapc/sparse.h"

#include <stdint.h>

typedef struct sparse_rows {
    metric_plan plan; /* the metric, and metric_surrogate_to_distance's conversion */
    size_t n, dim;
    const int64_t *indptr;
    const int32_t *indices;
    const float *data; /* prepared values: unit rows for cosine and dot, sqrt(x / sum x) for
                          hellinger, the values themselves for the rest */
    float *owned;      /* the prepared values when they differ from the caller's */
    double *terms;     /* per row: correlation's (mean, centred norm), the divergences' (sum, -) */
    uint8_t *zero;     /* per row, for cosine and hellinger: the prepared row is all zeros */
} sparse_rows;

/* Prepares x (checked) for metric (valid, with a sparse kernel). Returns -1 when out of memory;
 * the caller frees r with sparse_rows_free either way. */
int sparse_rows_init(sparse_rows *r, const umapc_metric *metric, const umapc_csr *x, int threads);
void sparse_rows_free(sparse_rows *r);

/* The surrogate of row i of a and row j of b (prepared for the same metric): the dense metric's
 * surrogate (metric_surrogate) on the densified rows, so metric_surrogate_to_distance applies. */
float sparse_rows_surrogate(const sparse_rows *a, size_t i, const sparse_rows *b, size_t j);

static inline float sparse_rows_distance(const sparse_rows *a, size_t i, const sparse_rows *b,
                                         size_t j) {
    return metric_surrogate_to_distance(&a->plan, sparse_rows_surrogate(a, i, b, j));
}

/* out[c] = <row i, r_c> for the pdim directions of a random projection of the rows' dim
 * coordinates: r_c[d] = +-1 by bit c of signs[d] (the identity when signs is NULL and pdim equals
 * dim). What NN-descent's trees split. */
void sparse_rows_project(const sparse_rows *r, size_t i, const uint64_t *signs, size_t pdim,
                         float *out);

#endif
