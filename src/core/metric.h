/* Internal side of the metrics: SIMD kernel tables chosen at run time, and the "prepared" form
 * of a metric that search code (exact, hnsw, knn_graph) uses. */
#ifndef UMAPC_SRC_METRIC_H
#define UMAPC_SRC_METRIC_H

#include "cpu.h"
#include <float.h>
#include <math.h>
#include "umapc/metric.h"

typedef float (*umapc_kernel_fn)(const float *a, const float *b, size_t dim);

/* The hot kernels in one instruction set. Tables are constant; selecting one has no side
 * effects, so there is no global mutable state. */
typedef struct simd_kernels {
    umapc_kernel_fn sqeuclidean; /* sum (a-b)^2 */
    umapc_kernel_fn dot;         /* sum a*b */
    umapc_kernel_fn manhattan;   /* sum |a-b| */
    /* x[d] += alpha * clip(coeff * (x[d] * sx - y[d] * sy), -4, 4): one SGD step of a point in
     * data space (inverse_transform), in the same float operations at every level so that a
     * seeded result does not depend on the CPU. */
    void (*move_clipped)(float *x, const float *y, size_t dim, float sx, float sy, float coeff,
                         float alpha);
    /* move_clipped, then sum (x[d] - next[d])^2 of the moved x, in the same pass: a chain of
     * steps whose next row is known measures its next distance while x is in registers. */
    float (*move_clipped_sqeuclidean)(float *x, const float *y, size_t dim, float sx, float sy,
                                      float coeff, float alpha, const float *next);
    /* x[d] += step * (x[d] - y[d]) (a multiply, then an add: the same roundings at every level),
     * then, unless next is NULL (NAN returned), sum (x[d] - next[d])^2 of the moved x: the
     * euclidean step of move_clipped_sqeuclidean with step = alpha * coeff * sx when no
     * coordinate can reach the clip, at half its operations per coordinate. */
    float (*move_sqeuclidean)(float *x, const float *y, size_t dim, float step, const float *next);
    const char *level; /* umapc_cpu_level_name of its level */
} simd_kernels;

/* One coordinate of move_clipped: the scalar table and the tails of the vector ones. */
static inline float move_clipped_one(float x, float y, float sx, float sy, float coeff,
                                     float alpha) {
    float v = coeff * (x * sx - y * sy);
    v = v < 4.0f ? v : 4.0f;
    v = v > -4.0f ? v : -4.0f;
    return x + v * alpha;
}

/* One coordinate of move_sqeuclidean. */
static inline float move_one(float x, float y, float step) {
    return x + step * (x - y);
}

/* Tables defined in the files compiled with SIMD flags (only in builds for their architecture);
 * reached only through simd_kernels_at / simd_kernels_select, which check the CPU first. */
#if defined(UMAPC_HAVE_X86_KERNELS)
extern const simd_kernels metric_kernels_avx2_table;
extern const simd_kernels metric_kernels_avx512_table;
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
extern const simd_kernels metric_kernels_neon_table;
#endif

/* The table of the level in use (umapc_cpu_level). */
const simd_kernels *simd_kernels_select(void);
/* The table of one level, for tests that compare levels; NULL when this CPU (or build) lacks it. */
const simd_kernels *simd_kernels_at(umapc_level level);

/* The metrics of metric_extra.c: their checks (umapc_metric_validate, _validate_dim and
 * _check_data end in these) and their distances. */
umapc_status metric_extra_validate(const umapc_metric *m, umapc_error *err);
umapc_status metric_extra_validate_dim(const umapc_metric *m, size_t dim, umapc_error *err);
umapc_status metric_extra_check_rows(const umapc_metric *m, const float *data, size_t n, size_t dim,
                                     umapc_error *err);
float metric_extra_distance(const umapc_metric *m, const float *a, const float *b, size_t dim);
/* The binary family (dice ... yule) from the counts of coordinates nonzero in both rows (tt), in
 * the first only (tf), in the second only (ft), out of n: shared by the dense and sparse kernels.
 */
float metric_binary_from_counts(umapc_metric_kind kind, double tt, double tf, double ft, double n);

/* One coordinate of jensen_shannon (kl = 0) or symmetric_kl (kl = 1), for the smoothed
 * probabilities x and y of the two rows. */
static inline double metric_divergence_term(int kl, double x, double y) {
    if (kl) {
        return x * log(x / y) + y * log(y / x);
    }
    double m = 0.5 * (x + y);
    return 0.5 * (x * log(x / m) + y * log(y / m));
}

/* umap-learn's ll_dirichlet pieces, shared by the dense and sparse kernels: log_beta(x, y) of two
 * counts, log_single_beta(x) of one, and the distance from the rows' sums n1, n2, the sum of
 * log_beta over the coordinates both hold (log_b) and each row's sum of log_single_beta (self1,
 * self2); `equal` says whether the rows are equal (the radicand can fall below 0: 0 for equal
 * rows, FLT_MAX for others, where umap-learn gives NaN). */
double metric_log_beta(double x, double y);
double metric_log_single_beta(double x);
float metric_ll_dirichlet_from_sums(double n1, double n2, double log_b, double self1, double self2,
                                    int equal);

/* pynndescent's np.finfo(np.float32).eps, the pseudo-count of its divergences. */
#define METRIC_FLOAT32_EPS ((double)FLT_EPSILON)

/* Whether the metric's distance depends on its p (two metrics that differ only in an unused p
 * are the same metric). */
int metric_uses_p(umapc_metric_kind kind);

/* Points m->params at a heap copy of them, returned (the caller frees it; NULL for a metric
 * without params). Sets *failed on exhaustion. For handles that outlive the caller's array. */
float *metric_own_params(umapc_metric *m, int *failed);

/* How rows are transformed once before search so that a cheap surrogate orders pairs exactly like
 * the true distance. */
typedef enum metric_prep {
    METRIC_PREP_NONE = 0,
    METRIC_PREP_NORMALIZE,        /* cosine (dot's rows are normalised by metric_search_rows) */
    METRIC_PREP_CENTER_NORMALIZE, /* correlation */
    METRIC_PREP_SQRT_L1           /* hellinger: sqrt(x / sum x) */
} metric_prep;

typedef struct metric_plan {
    umapc_metric metric;
    const simd_kernels *kernels;
    metric_prep prep;
} metric_plan;

/* Fills plan for metric (assumed valid) with the kernels of this CPU. */
void metric_plan_init(metric_plan *plan, const umapc_metric *metric);

/* Writes the prepared form of one row (dim floats) to out; out may equal row. */
void metric_prepare_row(const metric_plan *plan, const float *row, float *out, size_t dim);
/* Whether metric_prepare_row turns row into all zeros (a zero row for cosine and hellinger, a
 * constant one for correlation), without writing it out; 0 for metrics without preparation. */
int metric_prepares_to_zero(const metric_plan *plan, const float *row, size_t dim);

/* Surrogate on prepared rows: smaller means closer, same order as the true distance.
 * (sqeuclidean for euclidean, 1 - dot for cosine/correlation/hellinger, -dot for dot and
 * inner_product, the true distance for the rest.) Rows that prepare to all zeros (zero rows,
 * constant rows for correlation) follow umapc_distance: two of them give 0, one gives 1. */
float metric_surrogate(const metric_plan *plan, const float *a, const float *b, size_t dim);

/* Below this, 1 - <a,b> has lost most of its digits to cancellation: metric_surrogate recomputes
 * such values from |a-b|^2. */
#define METRIC_NEAR_PAIR 0x1p-6f

/* Whether every coordinate is 0: after preparation, a zero row (cosine, hellinger) or a constant
 * one (correlation). */
static inline int metric_row_is_zero(const float *a, size_t dim) {
    for (size_t i = 0; i < dim; i++) {
        if (a[i] != 0.0f) {
            return 0;
        }
    }
    return 1;
}

/* The rows a search compares, made at the entry of every search (exact, NN-descent, HNSW, the
 * index) so that they agree: for "dot", as pynndescent's NNDescent does, every row L2-normalised
 * (in double, so rows of denormals too); the rows themselves for other metrics.
 * Returns a copy in *owned (the caller frees it; NULL on exhaustion) or rows with *owned NULL. */
const float *metric_search_rows(const umapc_metric *metric, const float *rows, size_t n, size_t dim,
                                float **owned);
/* Whether metric_search_rows copies rows for this metric. */
int metric_search_rows_copy(const umapc_metric *metric);

/* Maps a surrogate value to the true distance (sqrt for euclidean, ...). */
float metric_surrogate_to_distance(const metric_plan *plan, float surrogate);

/* A metric_plan with the surrogate's kernel chosen once, for the searches (HNSW, NN-descent) that
 * measure millions of pairs of prepared rows and would otherwise dispatch on the metric at each. */
typedef enum metric_space_mode {
    METRIC_SPACE_SQL2 = 0,      /* squared L2 kernel */
    METRIC_SPACE_ONE_MINUS_DOT, /* 1 - dot on normalised rows */
    METRIC_SPACE_NEG_DOT,       /* -dot */
    METRIC_SPACE_GENERIC        /* metric_surrogate */
} metric_space_mode;

/* What cosine, correlation and hellinger cost. 1 - <a,b> alone is a third of the work of
 * metric_surrogate, but tells zero rows apart from no others and loses near pairs' digits: it
 * suits a search that answers zero queries and re-measures its near results itself (HNSW). A
 * search that keeps the distances it meets (NN-descent) needs metric_surrogate's values, so that
 * its graph agrees with exact search. */
typedef enum metric_space_angular {
    METRIC_SPACE_ANGULAR_PLAIN = 0, /* 1 - <a,b> */
    METRIC_SPACE_ANGULAR_EXACT      /* metric_surrogate */
} metric_space_angular;

typedef struct metric_space {
    metric_plan plan;
    umapc_kernel_fn kernel; /* the kernel of mode, NULL for METRIC_SPACE_GENERIC */
    metric_space_mode mode;
    size_t dim;
} metric_space;

/* Fills s for metric (assumed valid) on rows of dim floats, with the kernels of this CPU. Either
 * choice of angular gives metric_surrogate's values for every other metric. */
void metric_space_init(metric_space *s, const umapc_metric *metric, size_t dim,
                       metric_space_angular angular);

/* The surrogate of prepared rows a and b (smaller means closer); for the angular metrics under
 * METRIC_SPACE_ANGULAR_PLAIN, 1 - <a,b>. */
static inline float metric_space_dist(const metric_space *s, const float *a, const float *b) {
    switch (s->mode) {
    case METRIC_SPACE_SQL2:
        return s->kernel(a, b, s->dim);
    case METRIC_SPACE_ONE_MINUS_DOT:
        return 1.0f - s->kernel(a, b, s->dim);
    case METRIC_SPACE_NEG_DOT:
        return -s->kernel(a, b, s->dim);
    default:
        return metric_surrogate(&s->plan, a, b, s->dim);
    }
}

#endif
