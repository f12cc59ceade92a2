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

/* A row scattered into a dense buffer of dim values (zero outside the row): a pair against it
 * costs one pass over the other row's entries, each an independent load, where a merge of the two
 * column lists waits at every step on an unpredictable comparison. Metrics whose sums split over
 * the other row's entries (the dot family, euclidean, manhattan, correlation) use it; the rest, and
 * rows of more than SPARSE_PROBE_MAX_DIM columns (the buffer is per thread), keep the merge. */
typedef struct sparse_probe {
    const sparse_rows *rows;
    size_t row;
    float *dense; /* NULL: the merge */
    double own;   /* the row's own term: sum of squares (euclidean), of |values| (manhattan) */
} sparse_probe;

#define SPARSE_PROBE_MAX_DIM ((size_t)1 << 22)

/* The buffer probes of rows r need (zeroed, dim floats; free with free()), or NULL when their
 * metric or width keeps the merge; *failed is set when the allocation failed. */
float *sparse_probe_buffer(const sparse_rows *r, int *failed);

/* Row i of r into buf (from sparse_probe_buffer; NULL: the probe merges), until the next load
 * or sparse_probe_unload, which zeroes buf again. */
void sparse_probe_load(sparse_probe *p, const sparse_rows *r, size_t i, float *buf);
void sparse_probe_unload(sparse_probe *p);

/* sparse_rows_surrogate(p->rows, p->row, b, j), within rounding. */
float sparse_probe_surrogate(const sparse_probe *p, const sparse_rows *b, size_t j);

static inline float sparse_probe_distance(const sparse_probe *p, const sparse_rows *b, size_t j) {
    return metric_surrogate_to_distance(&p->rows->plan, sparse_probe_surrogate(p, b, j));
}

/* out[c] = <row i, r_c> for the pdim directions of a random projection of the rows' dim
 * coordinates: r_c[d] = +-1 by bit c of signs[d] (the identity when signs is NULL and pdim equals
 * dim). What NN-descent's trees split. */
void sparse_rows_project(const sparse_rows *r, size_t i, const uint64_t *signs, size_t pdim,
                         float *out);

#endif
