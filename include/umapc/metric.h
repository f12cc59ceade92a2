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
    /* The kinds below follow pynndescent's distances.py (umap-learn's distances.py for
     * ll_dirichlet, poincare and softmax_hellinger, which pynndescent lacks), computed in double.
     * Values are stored in index files: new kinds go last. */
    UMAPC_METRIC_SEUCLIDEAN,  /* sqrt(sum (a-b)^2 / V), V = params (dim variances, > 0) */
    UMAPC_METRIC_WMINKOWSKI,  /* (sum w |a-b|^p)^(1/p), w = params (dim weights, >= 0) */
    UMAPC_METRIC_MAHALANOBIS, /* sqrt((a-b)^T VI (a-b)), VI = params (dim x dim, row-major) */
    UMAPC_METRIC_HAVERSINE,   /* great circle on (latitude, longitude) in radians; dim 2 */
    UMAPC_METRIC_SPEARMANR,   /* correlation distance of the ranks (ties averaged) */
    /* The binary family compares nonzero patterns (nonzero is true), as jaccard does. */
    UMAPC_METRIC_DICE,
    UMAPC_METRIC_KULSINSKI,
    UMAPC_METRIC_MATCHING,
    UMAPC_METRIC_ROGERSTANIMOTO,
    UMAPC_METRIC_RUSSELLRAO,
    UMAPC_METRIC_SOKALMICHENER,
    UMAPC_METRIC_SOKALSNEATH,
    UMAPC_METRIC_YULE,
    /* Distribution metrics: rows are nonnegative histograms, normalised by the metric. */
    UMAPC_METRIC_JENSEN_SHANNON,
    UMAPC_METRIC_SYMMETRIC_KL,
    UMAPC_METRIC_LL_DIRICHLET,   /* rows with a positive sum; FLT_MAX where umap-learn gives NaN */
    UMAPC_METRIC_WASSERSTEIN_1D, /* p-norm of the CDF difference; rows with a positive sum */
    UMAPC_METRIC_CIRCULAR_KANTOROVICH, /* integer p >= 1; rows with a positive sum */
    UMAPC_METRIC_POINCARE,             /* rows inside the unit ball */
    UMAPC_METRIC_TRUE_ANGULAR, /* pynndescent's formula, 1 - angle / pi: 1 for equal directions */
    UMAPC_METRIC_TSSS,
    /* Bit-packed rows as in pynndescent, one byte per float: each coordinate an integer 0..255
     * (a uint8 array of np.packbits rows converted to float32). */
    UMAPC_METRIC_BIT_HAMMING, /* differing bits (not normalised) */
    UMAPC_METRIC_BIT_JACCARD, /* -log(|a & b| / |a | b|): inf with no common bit, 0 for two zero
                                 rows */
    UMAPC_METRIC_SOFTMAX_HELLINGER, /* hellinger between softmax(a) and softmax(b) */
    /* Optimal transport between the rows normalised to sum 1 (pynndescent's), under a cost matrix:
     * params hold the dim x dim cost (row-major, finite, >= 0) and then one scalar. */
    UMAPC_METRIC_KANTOROVICH, /* exact; the scalar is max_iter, an integer >= 1 */
    UMAPC_METRIC_SINKHORN,    /* entropy-regularised; the scalar is the regularization, > 0 */
    /* umap-learn's discrete metrics: they compare one scalar per row (dim 1), and their params
     * are their scalar parameters. */
    UMAPC_METRIC_CATEGORICAL,   /* 0 for equal values, 1 otherwise; no params */
    UMAPC_METRIC_ORDINAL,       /* |a - b| / support_size; params {support_size > 0} */
    UMAPC_METRIC_POISSON_COUNT, /* "count"; params {poisson_lambda > 0, normalisation != 0} */
    UMAPC_METRIC_COUNT_,
    /* A caller's function (umapc_metric.fn): past the count with a fixed value, so the named
     * kinds keep their numbers as new ones are added, and every loop over named kinds and every
     * file reader (which reject kinds >= UMAPC_METRIC_COUNT_) leave it out: a function pointer
     * cannot be saved. It has no name to parse; umapc_metric_name gives "custom". */
    UMAPC_METRIC_CUSTOM = 1024
} umapc_metric_kind;

/* The distance of a UMAPC_METRIC_CUSTOM metric between rows a and b of dim coordinates; ctx is
 * umapc_metric.ctx. It is called from the library's worker threads, concurrently, so it must be
 * thread-safe; searches use its values as they are (no surrogate, no SIMD, no 8-bit codes). */
typedef float (*umapc_metric_fn)(const float *a, const float *b, int64_t dim, void *ctx);

/* A metric and its parameters. Initialise with umapc_metric_init, then set fields. */
typedef struct umapc_metric {
    umapc_metric_kind kind; /* default UMAPC_METRIC_EUCLIDEAN */
    /* Exponent of minkowski, wminkowski, wasserstein_1d and circular_kantorovich, > 0; default 2
     * (umap-learn's default for the two wasserstein metrics is 1: set it). */
    double p;
    /* The array parameter of seuclidean (V, dim entries), wminkowski (w, dim) and mahalanobis (VI,
     * dim * dim), the cost and scalar of kantorovich and sinkhorn (dim * dim + 1), the scalars of
     * ordinal (1) and count (2); NULL and 0 for the other metrics (default). The caller owns the
     * array and keeps it alive during each call; handles that outlive a call (HNSW, the index) keep
     * a copy. */
    const float *params;
    size_t n_params;
    /* UMAPC_METRIC_CUSTOM's function (required) and its context; NULL for the other kinds. The
     * caller keeps ctx valid as long as a handle (HNSW, the index) made with the metric lives. */
    umapc_metric_fn fn;
    void *ctx;
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

/* Checks the parameters that do not depend on the dimension (p > 0 and finite, an integer for
 * circular_kantorovich; params present and finite exactly for the metrics that take them; the
 * scalars' bounds: max_iter an integer >= 1, regularization > 0, support_size > 0,
 * poisson_lambda > 0, normalisation != 0). */
UMAPC_API umapc_status umapc_metric_validate(const umapc_metric *metric, umapc_error *err);

/* umapc_metric_validate, then what depends on dim: params of umapc_metric_params_needed
 * entries, V > 0, w >= 0, cost >= 0, haversine only in 2 dimensions, categorical, ordinal and
 * count only in 1. Every call that takes a metric and a dimension runs it;
 * umapc_distance does not (the caller has). */
UMAPC_API umapc_status umapc_metric_validate_dim(const umapc_metric *metric, size_t dim,
                                                 umapc_error *err);

/* Number of entries metric's params must hold in dim dimensions (0 when it takes none). */
UMAPC_API size_t umapc_metric_params_needed(umapc_metric_kind kind, size_t dim);

/* Checks umapc_metric_validate_dim, then that rows (n x dim, row-major) lie in the metric's
 * domain: hellinger and the distribution metrics need nonnegative entries (they are treated as
 * unnormalised probabilities; ll_dirichlet and the wasserstein metrics also a positive sum per
 * row, as kantorovich and sinkhorn do), count nonnegative counts up to 2^20 (its distance steps
 * through the counts between two), poincare rows inside the unit ball, the bit metrics integers
 * 0..255, and no coordinate may exceed umapc_metric_max_magnitude in absolute value (larger ones
 * would overflow float32 sums).
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
