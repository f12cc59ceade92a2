/* umapc: distance metrics on dense float32 rows. */
#ifndef UMAPC_METRIC_H
#define UMAPC_METRIC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum umapc_metric_kind {
    UMAPC_METRIC_EUCLIDEAN = 0,
    UMAPC_METRIC_SQEUCLIDEAN,
    UMAPC_METRIC_MANHATTAN,
    UMAPC_METRIC_CHEBYSHEV,
    UMAPC_METRIC_MINKOWSKI,
    UMAPC_METRIC_COSINE,
    UMAPC_METRIC_CORRELATION,
    UMAPC_METRIC_DOT, /* pynndescent's "dot" and "inner_product" */
    UMAPC_METRIC_CANBERRA,
    UMAPC_METRIC_BRAYCURTIS,
    UMAPC_METRIC_HAMMING,
    UMAPC_METRIC_JACCARD,
    UMAPC_METRIC_HELLINGER,
    UMAPC_METRIC_COUNT_
} umapc_metric_kind;

/* A metric and its parameters. Initialise with umapc_metric_init, then set fields. */
typedef struct umapc_metric {
    umapc_metric_kind kind; /* default UMAPC_METRIC_EUCLIDEAN */
    double p;               /* minkowski exponent, > 0; default 2 */
} umapc_metric;

UMAPC_API void umapc_metric_init(umapc_metric *metric);

/* Parses a metric name or alias as umap-learn / pynndescent spell them ("l2", "taxicab",
 * "linfinity", "inner_product", ...). Unknown names fail with UMAPC_ERR_INVALID_ARGUMENT. */
UMAPC_API umapc_status umapc_metric_parse(const char *name, umapc_metric_kind *kind,
                                          umapc_error *err);
UMAPC_API const char *umapc_metric_name(umapc_metric_kind kind);

/* Checks the parameters (minkowski p > 0 and finite). */
UMAPC_API umapc_status umapc_metric_validate(const umapc_metric *metric, umapc_error *err);

/* True when the metric compares directions only (cosine, correlation, dot, hellinger): the index
 * then normalises rows, and pynndescent reports `_angular_trees`. */
UMAPC_API int umapc_metric_is_angular(umapc_metric_kind kind);

/* Distance between two rows, exactly as scipy.spatial.distance (or pynndescent where scipy lacks
 * the metric) defines it. */
UMAPC_API float umapc_distance(const umapc_metric *metric, const float *a, const float *b,
                               size_t dim);

/* out[i * ny + j] = distance(x[i], y[j]) for row-major x (nx x dim) and y (ny x dim). */
UMAPC_API umapc_status umapc_pairwise_distances(const umapc_metric *metric, const float *x,
                                                size_t nx, const float *y, size_t ny, size_t dim,
                                                float *out, int n_threads, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
