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
    /* pynndescent's "dot": 1 - <a,b>, or 1 when <a,b> <= 0. The searches (exact, NN-descent,
     * HNSW, the index) compare L2-normalised rows, as pynndescent's NNDescent does;
     * umapc_distance and umapc_pairwise_distances take the rows as given. */
    UMAPC_METRIC_DOT,
    UMAPC_METRIC_CANBERRA,
    UMAPC_METRIC_BRAYCURTIS,
    UMAPC_METRIC_HAMMING,
    UMAPC_METRIC_JACCARD,
    UMAPC_METRIC_HELLINGER,
    UMAPC_METRIC_INNER_PRODUCT, /* pynndescent's "inner_product": -<a,b> (may be negative) */
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
/* Canonical name of kind ("euclidean", ...), or NULL for a value out of range. */
UMAPC_API const char *umapc_metric_name(umapc_metric_kind kind);

/* The i-th name umapc_metric_parse accepts (canonical names and aliases), NULL past the end: lets
 * bindings list the valid names. */
UMAPC_API const char *umapc_metric_alias(size_t i);

/* Checks the parameters (minkowski p > 0 and finite). */
UMAPC_API umapc_status umapc_metric_validate(const umapc_metric *metric, umapc_error *err);

/* Checks that rows (n x dim, row-major) lie in the metric's domain: hellinger needs nonnegative
 * entries (they are treated as unnormalised probabilities), and no coordinate may exceed
 * umapc_metric_max_magnitude in absolute value (larger ones would overflow float32 sums).
 * NaN or infinite entries are not checked here; they give NaN distances. */
UMAPC_API umapc_status umapc_metric_check_data(const umapc_metric *metric, const float *data,
                                               size_t n, size_t dim, umapc_error *err);

/* The largest coordinate magnitude for which the metric's float32 distance sums stay finite in
 * dim dimensions (e.g. about 2.3e18 for euclidean in 4 dimensions); FLT_MAX when any float fits. */
UMAPC_API double umapc_metric_max_magnitude(const umapc_metric *metric, size_t dim);

/* True when the metric compares directions only (cosine, correlation, dot, hellinger): the index
 * then normalises rows, and pynndescent reports `_angular_trees`. */
UMAPC_API int umapc_metric_is_angular(umapc_metric_kind kind);

/* Distance between two rows, as scipy.spatial.distance defines it (pynndescent's definition for
 * dot, inner_product and hellinger, which scipy lacks). Where scipy returns NaN for 0/0 (cosine or
 * braycurtis with zero rows, correlation with constant rows) this follows pynndescent instead:
 * 0 when both rows are degenerate, 1 when one is (braycurtis: 0 when both are zero). Cosine and
 * correlation are clamped to [0, 2] and hellinger to [0, 1] so rounding never gives a negative
 * distance. jaccard compares nonzero patterns, hamming counts unequal coordinates. */
UMAPC_API float umapc_distance(const umapc_metric *metric, const float *a, const float *b,
                               size_t dim);

/* out[i * ny + j] = distance(x[i], y[j]) for row-major x (nx x dim) and y (ny x dim). */
UMAPC_API umapc_status umapc_pairwise_distances(const umapc_metric *metric, const float *x,
                                                size_t nx, const float *y, size_t ny, size_t dim,
                                                float *out, const umapc_run_options *opts,
                                                umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
