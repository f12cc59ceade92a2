/* Distance metrics: names, the portable kernels, run-time choice of SIMD kernels, exact
 * distances, the prepared/surrogate form used by search code, and pairwise distance matrices. */
#include "metric.h"
#include "cpu.h"
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- portable kernels ------------------------------------------------------------------------ */

/* Eight independent partial sums: fewer rounding steps in a row than one running sum, and the
 * compiler can keep them in two SSE registers without being allowed to reassociate. */
#define SCALAR_LANES 8

static float scalar_sqeuclidean(const float *a, const float *b, size_t dim) {
    float s[SCALAR_LANES] = {0};
    size_t i = 0;
    for (; i + SCALAR_LANES <= dim; i += SCALAR_LANES) {
        for (size_t l = 0; l < SCALAR_LANES; l++) {
            float d = a[i + l] - b[i + l];
            s[l] += d * d;
        }
    }
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        s[i % SCALAR_LANES] += d * d;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float scalar_dot(const float *a, const float *b, size_t dim) {
    float s[SCALAR_LANES] = {0};
    size_t i = 0;
    for (; i + SCALAR_LANES <= dim; i += SCALAR_LANES) {
        for (size_t l = 0; l < SCALAR_LANES; l++) {
            s[l] += a[i + l] * b[i + l];
        }
    }
    for (; i < dim; i++) {
        s[i % SCALAR_LANES] += a[i] * b[i];
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float scalar_manhattan(const float *a, const float *b, size_t dim) {
    float s[SCALAR_LANES] = {0};
    size_t i = 0;
    for (; i + SCALAR_LANES <= dim; i += SCALAR_LANES) {
        for (size_t l = 0; l < SCALAR_LANES; l++) {
            s[l] += fabsf(a[i + l] - b[i + l]);
        }
    }
    for (; i < dim; i++) {
        s[i % SCALAR_LANES] += fabsf(a[i] - b[i]);
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void scalar_move_clipped(float *x, const float *y, size_t dim, float sx, float sy,
                                float coeff, float alpha) {
    for (size_t d = 0; d < dim; d++) {
        x[d] = move_clipped_one(x[d], y[d], sx, sy, coeff, alpha);
    }
}

static float scalar_move_clipped_sqeuclidean(float *x, const float *y, size_t dim, float sx,
                                             float sy, float coeff, float alpha,
                                             const float *next) {
    float s[SCALAR_LANES] = {0};
    for (size_t d = 0; d < dim; d++) {
        x[d] = move_clipped_one(x[d], y[d], sx, sy, coeff, alpha);
        float e = x[d] - next[d];
        s[d % SCALAR_LANES] += e * e;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float scalar_move_sqeuclidean(float *x, const float *y, size_t dim, float step,
                                     const float *next) {
    if (next == NULL) {
        for (size_t d = 0; d < dim; d++) {
            x[d] = move_one(x[d], y[d], step);
        }
        return NAN;
    }
    float s[SCALAR_LANES] = {0};
    for (size_t d = 0; d < dim; d++) {
        x[d] = move_one(x[d], y[d], step);
        float e = x[d] - next[d];
        s[d % SCALAR_LANES] += e * e;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static const simd_kernels scalar_table = {
    .sqeuclidean = scalar_sqeuclidean,
    .dot = scalar_dot,
    .manhattan = scalar_manhattan,
    .move_clipped = scalar_move_clipped,
    .move_clipped_sqeuclidean = scalar_move_clipped_sqeuclidean,
    .move_sqeuclidean = scalar_move_sqeuclidean,
    .level = "scalar",
};

/* ---- run-time choice ------------------------------------------------------------------------- */

static const simd_kernels *const kernels_by_level[UMAPC_LEVEL_COUNT] = {
    [UMAPC_LEVEL_SCALAR] = &scalar_table,
#if defined(UMAPC_HAVE_X86_KERNELS)
    [UMAPC_LEVEL_AVX2] = &metric_kernels_avx2_table,
    [UMAPC_LEVEL_AVX512] = &metric_kernels_avx512_table,
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    [UMAPC_LEVEL_NEON] = &metric_kernels_neon_table,
#endif
};

const simd_kernels *simd_kernels_at(umapc_level level) {
    return umapc_cpu_runs(level) ? kernels_by_level[level] : NULL;
}

const simd_kernels *simd_kernels_select(void) {
    const simd_kernels *k = simd_kernels_at(umapc_cpu_level());
    return k != NULL ? k : &scalar_table;
}

/* ---- names ----------------------------------------------------------------------------------- */

typedef struct metric_alias {
    const char *name;
    umapc_metric_kind kind;
} metric_alias;

/* Canonical names first, in enum order, so the table doubles as the kind -> name map. */
static const metric_alias metric_aliases[] = {
    {"euclidean", UMAPC_METRIC_EUCLIDEAN},
    {"sqeuclidean", UMAPC_METRIC_SQEUCLIDEAN},
    {"manhattan", UMAPC_METRIC_MANHATTAN},
    {"chebyshev", UMAPC_METRIC_CHEBYSHEV},
    {"minkowski", UMAPC_METRIC_MINKOWSKI},
    {"cosine", UMAPC_METRIC_COSINE},
    {"correlation", UMAPC_METRIC_CORRELATION},
    {"dot", UMAPC_METRIC_DOT},
    {"canberra", UMAPC_METRIC_CANBERRA},
    {"braycurtis", UMAPC_METRIC_BRAYCURTIS},
    {"hamming", UMAPC_METRIC_HAMMING},
    {"jaccard", UMAPC_METRIC_JACCARD},
    {"hellinger", UMAPC_METRIC_HELLINGER},
    {"inner_product", UMAPC_METRIC_INNER_PRODUCT},
    {"seuclidean", UMAPC_METRIC_SEUCLIDEAN},
    {"wminkowski", UMAPC_METRIC_WMINKOWSKI},
    {"mahalanobis", UMAPC_METRIC_MAHALANOBIS},
    {"haversine", UMAPC_METRIC_HAVERSINE},
    {"spearmanr", UMAPC_METRIC_SPEARMANR},
    {"dice", UMAPC_METRIC_DICE},
    {"kulsinski", UMAPC_METRIC_KULSINSKI},
    {"matching", UMAPC_METRIC_MATCHING},
    {"rogerstanimoto", UMAPC_METRIC_ROGERSTANIMOTO},
    {"russellrao", UMAPC_METRIC_RUSSELLRAO},
    {"sokalmichener", UMAPC_METRIC_SOKALMICHENER},
    {"sokalsneath", UMAPC_METRIC_SOKALSNEATH},
    {"yule", UMAPC_METRIC_YULE},
    {"jensen_shannon", UMAPC_METRIC_JENSEN_SHANNON},
    {"symmetric_kl", UMAPC_METRIC_SYMMETRIC_KL},
    {"ll_dirichlet", UMAPC_METRIC_LL_DIRICHLET},
    {"wasserstein_1d", UMAPC_METRIC_WASSERSTEIN_1D},
    {"circular_kantorovich", UMAPC_METRIC_CIRCULAR_KANTOROVICH},
    {"poincare", UMAPC_METRIC_POINCARE},
    {"true_angular", UMAPC_METRIC_TRUE_ANGULAR},
    {"tsss", UMAPC_METRIC_TSSS},
    {"bit_hamming", UMAPC_METRIC_BIT_HAMMING},
    {"bit_jaccard", UMAPC_METRIC_BIT_JACCARD},
    {"softmax_hellinger", UMAPC_METRIC_SOFTMAX_HELLINGER},
    {"kantorovich", UMAPC_METRIC_KANTOROVICH},
    {"sinkhorn", UMAPC_METRIC_SINKHORN},
    {"categorical", UMAPC_METRIC_CATEGORICAL},
    {"ordinal", UMAPC_METRIC_ORDINAL},
    {"count", UMAPC_METRIC_POISSON_COUNT},
    {"l2", UMAPC_METRIC_EUCLIDEAN},
    {"l1", UMAPC_METRIC_MANHATTAN},
    {"taxicab", UMAPC_METRIC_MANHATTAN},
    {"linfinity", UMAPC_METRIC_CHEBYSHEV},
    {"linfty", UMAPC_METRIC_CHEBYSHEV},
    {"linf", UMAPC_METRIC_CHEBYSHEV},
    /* pynndescent normalises direct_cosine's rows and measures 1 - <a,b> (1 when <= 0): what
     * umapc's dot does. */
    {"direct_cosine", UMAPC_METRIC_DOT},
    {"standardised_euclidean", UMAPC_METRIC_SEUCLIDEAN},
    {"weighted_minkowski", UMAPC_METRIC_WMINKOWSKI},
    {"jensen-shannon", UMAPC_METRIC_JENSEN_SHANNON},
    {"symmetric-kl", UMAPC_METRIC_SYMMETRIC_KL},
    {"symmetric_kullback_liebler", UMAPC_METRIC_SYMMETRIC_KL},
    {"wasserstein-1d", UMAPC_METRIC_WASSERSTEIN_1D},
    {"kantorovich_1d", UMAPC_METRIC_WASSERSTEIN_1D},
    {"kantorovich-1d", UMAPC_METRIC_WASSERSTEIN_1D},
    {"circular_wasserstein", UMAPC_METRIC_CIRCULAR_KANTOROVICH},
    {"wasserstein", UMAPC_METRIC_KANTOROVICH}, /* pynndescent's name for the same function */
};
#define N_ALIASES (sizeof metric_aliases / sizeof metric_aliases[0])

void umapc_metric_init(umapc_metric *metric) {
    metric->kind = UMAPC_METRIC_EUCLIDEAN;
    metric->p = 2.0;
    metric->params = NULL;
    metric->n_params = 0;
    metric->fn = NULL;
    metric->ctx = NULL;
}

const char *umapc_metric_alias(size_t i) {
    return i < N_ALIASES ? metric_aliases[i].name : NULL;
}

const char *umapc_metric_name(umapc_metric_kind kind) {
    if (kind == UMAPC_METRIC_CUSTOM) {
        return "custom";
    }
    if ((unsigned)kind >= (unsigned)UMAPC_METRIC_COUNT_) {
        return NULL;
    }
    return metric_aliases[kind].name;
}

/* The valid names as far as they fit in buf: those of scipy's common metrics (and their aliases)
 * first, then the others, then "..." when some did not fit (umapc_metric_alias lists them all). */
static void list_names(char *buf, size_t size) {
    size_t used = 0;
    int full = 0;
    buf[0] = '\0';
    for (int pass = 0; pass < 2 && !full; pass++) {
        for (size_t i = 0; i < N_ALIASES; i++) {
            if ((metric_aliases[i].kind > UMAPC_METRIC_INNER_PRODUCT) != pass) {
                continue;
            }
            const char *sep = used ? ", " : "";
            size_t need = strlen(sep) + strlen(metric_aliases[i].name);
            if (used + need + 5 >= size) { /* room for ", ..." */
                full = 1;
                break;
            }
            used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, metric_aliases[i].name);
        }
    }
    if (full) {
        snprintf(buf + used, size - used, ", ...");
    }
}

umapc_status umapc_metric_parse(const char *name, umapc_metric_kind *kind, umapc_error *err) {
    if (name == NULL || kind == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "metric name and kind must not be NULL");
    }
    for (size_t i = 0; i < N_ALIASES; i++) {
        if (strcmp(name, metric_aliases[i].name) == 0) {
            *kind = metric_aliases[i].kind;
            return UMAPC_OK;
        }
    }
    char names[sizeof err->message - 100];
    list_names(names, sizeof names);
    return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "unknown metric '%.60s'; valid names: %s",
                      name, names);
}

umapc_status umapc_metric_validate(const umapc_metric *metric, umapc_error *err) {
    if (metric == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "metric must not be NULL");
    }
    if (metric->kind == UMAPC_METRIC_CUSTOM) {
        if (metric->fn == NULL) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "a custom metric needs its function (fn must not be NULL)");
        }
    } else if ((unsigned)metric->kind >= (unsigned)UMAPC_METRIC_COUNT_) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "unknown metric kind %d",
                          (int)metric->kind);
    }
    return metric_extra_validate(metric, err);
}

umapc_status umapc_metric_validate_dim(const umapc_metric *metric, size_t dim, umapc_error *err) {
    umapc_status st = umapc_metric_validate(metric, err);
    return st != UMAPC_OK ? st : metric_extra_validate_dim(metric, dim, err);
}

int umapc_metric_is_angular(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_COSINE || kind == UMAPC_METRIC_CORRELATION ||
           kind == UMAPC_METRIC_DOT || kind == UMAPC_METRIC_HELLINGER;
}

/* Every kernel sums dim terms in float32: squares or products of coordinates (euclidean and the
 * angular metrics, and the |a|^2 + |b|^2 - 2ab form of the exact search), |a - b|^p (minkowski) or
 * |a - b| (the others). Coordinates up to the returned bound keep each such sum, and the distance,
 * a factor 16 below FLT_MAX, so finite inputs never give infinite distances. */
double umapc_metric_max_magnitude(const umapc_metric *metric, size_t dim) {
    double d = dim > 0 ? (double)dim : 1.0;
    double room = (double)FLT_MAX / 16.0;
    switch (metric->kind) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
        return 0.5 * sqrt(room / d);
    case UMAPC_METRIC_MINKOWSKI: {
        /* The sum of |a - b|^p and its 1/p-th power, which exceeds the sum's terms for p < 1. */
        double p = metric->p;
        double by_sum = pow(room / d, 1.0 / p);
        double by_root = room / pow(d, 1.0 / p);
        return 0.5 * (by_sum < by_root ? by_sum : by_root);
    }
    case UMAPC_METRIC_MANHATTAN:
    case UMAPC_METRIC_CHEBYSHEV:
    case UMAPC_METRIC_CANBERRA:
    case UMAPC_METRIC_BRAYCURTIS:
        return 0.5 * room / d;
    default: /* hamming, jaccard compare; hellinger sums in double */
        return (double)FLT_MAX;
    }
}

umapc_status umapc_metric_check_data(const umapc_metric *metric, const float *data, size_t n,
                                     size_t dim, umapc_error *err) {
    umapc_status st = umapc_metric_validate_dim(metric, dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    size_t count = umapc_mul_size(n, dim);
    if (count == SIZE_MAX || (count > 0 && data == NULL)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "data is NULL or too large");
    }
    /* Branch-free minimum and maximum so the scan vectorises; data can be large. */
    float lowest = 0.0f, highest = 0.0f;
    for (size_t i = 0; i < count; i++) {
        lowest = data[i] < lowest ? data[i] : lowest;
        highest = data[i] > highest ? data[i] : highest;
    }
    if (metric->kind == UMAPC_METRIC_HELLINGER && lowest < 0.0f) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "hellinger needs nonnegative data, found %g", (double)lowest);
    }
    double largest = fmax(-(double)lowest, (double)highest);
    double limit = umapc_metric_max_magnitude(metric, dim);
    if (largest > limit) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "data has a value of magnitude %g; the largest magnitude supported for "
                          "metric %s in %zu dimensions is %.3g (distances would overflow float32)",
                          largest, umapc_metric_name(metric->kind), dim, limit);
    }
    return metric_extra_check_rows(metric, data, n, dim, err);
}

/* ---- exact distances ------------------------------------------------------------------------- */

static float clampf(double x, double lo, double hi) {
    return (float)(x < lo ? lo : (x > hi ? hi : x));
}

/* Four-lane vectors in the compiler's generic vector extension (SSE2 on x86-64, NEON elsewhere):
 * without -ffast-math the compilers do not vectorise a float max or a guarded division on their
 * own, and these metrics are not worth a copy per instruction set. */
typedef float vec4f __attribute__((vector_size(16)));
typedef int32_t vec4i __attribute__((vector_size(16)));

static inline vec4f load4(const float *p) {
    vec4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline vec4f abs4(vec4f v) {
    const vec4i sign = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
    return (vec4f)((vec4i)v & ~sign);
}

/* mask ? x : y, lane by lane, for masks from vector comparisons (all ones or zero). */
static inline vec4f select4(vec4i mask, vec4f x, vec4f y) {
    return (vec4f)(((vec4i)x & mask) | ((vec4i)y & ~mask));
}

static inline float hsum4(vec4f v) {
    return (v[0] + v[1]) + (v[2] + v[3]);
}

static float chebyshev_distance(const float *a, const float *b, size_t dim) {
    vec4f m0 = {0}, m1 = {0};
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        vec4f d0 = abs4(load4(a + i) - load4(b + i));
        vec4f d1 = abs4(load4(a + i + 4) - load4(b + i + 4));
        m0 = select4(d0 > m0, d0, m0);
        m1 = select4(d1 > m1, d1, m1);
    }
    m0 = select4(m1 > m0, m1, m0);
    float m = 0.0f;
    for (int l = 0; l < 4; l++) {
        m = m0[l] > m ? m0[l] : m;
    }
    for (; i < dim; i++) {
        float d = fabsf(a[i] - b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static float minkowski_distance(const simd_kernels *k, double p, const float *a, const float *b,
                                size_t dim) {
    if (p == 1.0) {
        return k->manhattan(a, b, dim);
    }
    if (p == 2.0) {
        return sqrtf(k->sqeuclidean(a, b, dim));
    }
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += pow(fabs((double)a[i] - (double)b[i]), p);
    }
    return (float)pow(s, 1.0 / p);
}

/* Below this a float sum of squares has lost its digits to underflow (every |x| < ~1e-15). */
#define COSINE_TINY_NORM2 0x1p-100f

/* cosine_distance for rows so small that their float squares underflow: the sums in double. */
static float cosine_distance_tiny(const float *a, const float *b, size_t dim) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < dim; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0.0 || bb == 0.0) {
        return (aa == 0.0 && bb == 0.0) ? 0.0f : 1.0f;
    }
    return clampf(1.0 - ab / sqrt(aa * bb), 0.0, 2.0);
}

/* pynndescent: 0 when both rows are zero, 1 when one is; scipy would give NaN. Rows of tiny
 * magnitude are measured in double, as the search paths measure their normalised rows; in float
 * they would count as zero rows. */
static float cosine_distance(const simd_kernels *k, const float *a, const float *b, size_t dim) {
    double ab = k->dot(a, b, dim), aa = k->dot(a, a, dim), bb = k->dot(b, b, dim);
    if (UMAPC_UNLIKELY(aa < COSINE_TINY_NORM2 || bb < COSINE_TINY_NORM2)) {
        return cosine_distance_tiny(a, b, dim); /* zero rows included */
    }
    return clampf(1.0 - ab / sqrt(aa * bb), 0.0, 2.0);
}

static double row_mean(const float *a, size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += a[i];
    }
    return s / (double)dim;
}

/* Two passes in double: centring after summing loses nothing to cancellation. Constant rows
 * follow pynndescent (0 for two of them, 1 for one), where scipy gives NaN. */
static float correlation_distance(const float *a, const float *b, size_t dim) {
    double ma = row_mean(a, dim), mb = row_mean(b, dim);
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double x = a[i] - ma, y = b[i] - mb;
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if (aa == 0.0 || bb == 0.0) {
        return (aa == 0.0 && bb == 0.0) ? 0.0f : 1.0f;
    }
    return clampf(1.0 - ab / sqrt(aa * bb), 0.0, 2.0);
}

/* pynndescent's "dot" (meant for unit rows): 1 - <a,b>, and 1 when <a,b> <= 0. */
static float dot_distance_from_dot(float ab) {
    return ab <= 0.0f ? 1.0f : 1.0f - ab;
}

/* Terms lie in [0, 1], so float lanes lose nothing that matters. A zero denominator means both
 * coordinates are 0, so dividing the zero numerator by 1 instead gives scipy's 0 for 0/0. */
static float canberra_distance(const float *a, const float *b, size_t dim) {
    const vec4f one = {1.0f, 1.0f, 1.0f, 1.0f}, zero = {0};
    vec4f s0 = {0}, s1 = {0};
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        vec4f a0 = load4(a + i), b0 = load4(b + i), a1 = load4(a + i + 4), b1 = load4(b + i + 4);
        vec4f den0 = abs4(a0) + abs4(b0), den1 = abs4(a1) + abs4(b1);
        s0 += abs4(a0 - b0) / select4(den0 > zero, den0, one);
        s1 += abs4(a1 - b1) / select4(den1 > zero, den1, one);
    }
    float s = hsum4(s0 + s1);
    for (; i < dim; i++) {
        float den = fabsf(a[i]) + fabsf(b[i]);
        s += den > 0.0f ? fabsf(a[i] - b[i]) / den : 0.0f;
    }
    return s;
}

/* 0 for two zero rows (pynndescent; scipy gives NaN). */
static float braycurtis_distance(const float *a, const float *b, size_t dim) {
    vec4f num = {0}, den = {0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        vec4f x = load4(a + i), y = load4(b + i);
        num += abs4(x - y);
        den += abs4(x + y);
    }
    double n = hsum4(num), d = hsum4(den);
    for (; i < dim; i++) {
        n += fabsf(a[i] - b[i]);
        d += fabsf(a[i] + b[i]);
    }
    return d > 0.0 ? (float)(n / d) : 0.0f;
}

static float hamming_distance(const float *a, const float *b, size_t dim) {
    vec4i c = {0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        c -= (load4(a + i) != load4(b + i)); /* true lanes are -1 */
    }
    size_t differ = (size_t)c[0] + (size_t)c[1] + (size_t)c[2] + (size_t)c[3];
    for (; i < dim; i++) {
        differ += (a[i] != b[i]);
    }
    return (float)((double)differ / (double)dim);
}

static float jaccard_distance(const float *a, const float *b, size_t dim) {
    const vec4f zero = {0};
    vec4i either4 = {0}, both4 = {0};
    size_t i = 0;
    for (; i + 4 <= dim; i += 4) {
        vec4i x = load4(a + i) != zero, y = load4(b + i) != zero; /* true lanes are -1 */
        either4 -= x | y;
        both4 -= x & y;
    }
    size_t either = 0, both = 0;
    for (int l = 0; l < 4; l++) {
        either += (size_t)either4[l];
        both += (size_t)both4[l];
    }
    for (; i < dim; i++) {
        int x = a[i] != 0.0f, y = b[i] != 0.0f;
        either += (size_t)(x | y);
        both += (size_t)(x & y);
    }
    return either ? (float)((double)(either - both) / (double)either) : 0.0f;
}

/* Rows are unnormalised probabilities (nonnegative; see umapc_metric_check_data). */
static float hellinger_distance(const float *a, const float *b, size_t dim) {
    double s = 0.0, la = 0.0, lb = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += sqrt(fmax((double)a[i] * (double)b[i], 0.0));
        la += a[i];
        lb += b[i];
    }
    if (la <= 0.0 || lb <= 0.0) {
        return (la <= 0.0 && lb <= 0.0) ? 0.0f : 1.0f;
    }
    return (float)sqrt(fmax(1.0 - s / sqrt(la * lb), 0.0));
}

static float distance_with(const simd_kernels *k, const umapc_metric *metric, const float *a,
                           const float *b, size_t dim) {
    switch (metric->kind) {
    case UMAPC_METRIC_EUCLIDEAN:
        return sqrtf(k->sqeuclidean(a, b, dim));
    case UMAPC_METRIC_SQEUCLIDEAN:
        return k->sqeuclidean(a, b, dim);
    case UMAPC_METRIC_MANHATTAN:
        return k->manhattan(a, b, dim);
    case UMAPC_METRIC_CHEBYSHEV:
        return chebyshev_distance(a, b, dim);
    case UMAPC_METRIC_MINKOWSKI:
        return minkowski_distance(k, metric->p, a, b, dim);
    case UMAPC_METRIC_COSINE:
        return cosine_distance(k, a, b, dim);
    case UMAPC_METRIC_CORRELATION:
        return correlation_distance(a, b, dim);
    case UMAPC_METRIC_DOT:
        return dot_distance_from_dot(k->dot(a, b, dim));
    case UMAPC_METRIC_CANBERRA:
        return canberra_distance(a, b, dim);
    case UMAPC_METRIC_BRAYCURTIS:
        return braycurtis_distance(a, b, dim);
    case UMAPC_METRIC_HAMMING:
        return hamming_distance(a, b, dim);
    case UMAPC_METRIC_JACCARD:
        return jaccard_distance(a, b, dim);
    case UMAPC_METRIC_HELLINGER:
        return hellinger_distance(a, b, dim);
    case UMAPC_METRIC_INNER_PRODUCT:
        return -k->dot(a, b, dim);
    case UMAPC_METRIC_CUSTOM:
        return metric->fn(a, b, (int64_t)dim, metric->ctx);
    default:
        return metric_extra_distance(metric, a, b, dim);
    }
}

float umapc_distance(const umapc_metric *metric, const float *a, const float *b, size_t dim) {
    if (dim == 0) {
        return 0.0f;
    }
    return distance_with(simd_kernels_select(), metric, a, b, dim);
}

/* ---- prepared rows and surrogate ------------------------------------------------------------- */

static metric_prep prep_for(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_COSINE:
        return METRIC_PREP_NORMALIZE;
    case UMAPC_METRIC_CORRELATION:
        return METRIC_PREP_CENTER_NORMALIZE;
    case UMAPC_METRIC_HELLINGER:
        return METRIC_PREP_SQRT_L1;
    default:
        return METRIC_PREP_NONE;
    }
}

void metric_plan_init(metric_plan *plan, const umapc_metric *metric) {
    plan->metric = *metric;
    plan->kernels = simd_kernels_select();
    plan->prep = prep_for(metric->kind);
}

void metric_space_init(metric_space *s, const umapc_metric *metric, size_t dim,
                       metric_space_angular angular) {
    metric_plan_init(&s->plan, metric);
    s->dim = dim;
    s->kernel = NULL;
    s->mode = METRIC_SPACE_GENERIC;
    switch (metric->kind) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
        s->mode = METRIC_SPACE_SQL2;
        s->kernel = s->plan.kernels->sqeuclidean;
        break;
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
    case UMAPC_METRIC_HELLINGER:
        if (angular == METRIC_SPACE_ANGULAR_PLAIN) {
            s->mode = METRIC_SPACE_ONE_MINUS_DOT;
            s->kernel = s->plan.kernels->dot;
        }
        break;
    case UMAPC_METRIC_DOT:
        s->mode = METRIC_SPACE_NEG_DOT;
        s->kernel = s->plan.kernels->dot;
        break;
    default:
        break;
    }
}

/* out = (row - shift) / ||row - shift||, in double; a zero (or constant) row stays all zeros. */
static void prepare_normalized(const float *row, float *out, size_t dim, double shift) {
    double ss = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double x = row[i] - shift;
        ss += x * x;
    }
    double scale = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    for (size_t i = 0; i < dim; i++) {
        out[i] = (float)(((double)row[i] - shift) * scale);
    }
}

static void prepare_sqrt_l1(const float *row, float *out, size_t dim) {
    double sum = 0.0;
    for (size_t i = 0; i < dim; i++) {
        sum += row[i];
    }
    double scale = sum > 0.0 ? 1.0 / sum : 0.0;
    for (size_t i = 0; i < dim; i++) {
        out[i] = (float)sqrt(fmax((double)row[i] * scale, 0.0));
    }
}

void metric_prepare_row(const metric_plan *plan, const float *row, float *out, size_t dim) {
    switch (plan->prep) {
    case METRIC_PREP_NORMALIZE:
        prepare_normalized(row, out, dim, 0.0);
        break;
    case METRIC_PREP_CENTER_NORMALIZE:
        prepare_normalized(row, out, dim, dim ? row_mean(row, dim) : 0.0);
        break;
    case METRIC_PREP_SQRT_L1:
        prepare_sqrt_l1(row, out, dim);
        break;
    case METRIC_PREP_NONE:
        if (out != row) {
            memcpy(out, row, dim * sizeof *out);
        }
        break;
    }
}

int metric_search_rows_copy(const umapc_metric *metric) {
    return metric->kind == UMAPC_METRIC_DOT;
}

const float *metric_search_rows(const umapc_metric *metric, const float *rows, size_t n, size_t dim,
                                float **owned) {
    *owned = NULL;
    if (!metric_search_rows_copy(metric)) {
        return rows;
    }
    float *copy = malloc(umapc_mul_size(umapc_mul_size(n ? n : 1, dim ? dim : 1), sizeof(float)));
    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        prepare_normalized(rows + i * dim, copy + i * dim, dim, 0.0);
    }
    *owned = copy;
    return copy;
}

int metric_prepares_to_zero(const metric_plan *plan, const float *row, size_t dim) {
    switch (plan->prep) {
    case METRIC_PREP_NORMALIZE: /* ||row|| = 0 */
        return metric_row_is_zero(row, dim);
    case METRIC_PREP_CENTER_NORMALIZE: /* a constant row: its mean is exactly its value */
        for (size_t i = 1; i < dim; i++) {
            if (row[i] != row[0]) {
                return 0;
            }
        }
        return 1;
    case METRIC_PREP_SQRT_L1: /* no positive coordinate (the data are nonnegative) */
        for (size_t i = 0; i < dim; i++) {
            if (row[i] > 0.0f) {
                return 0;
            }
        }
        return 1;
    case METRIC_PREP_NONE:
        break;
    }
    return 0;
}

/* 1 - <a,b> on unit (or zero) rows. The zero-row scan runs only when the dot is exactly 0, so it
 * costs nothing on ordinary pairs. For near pairs the same quantity is recomputed as |a-b|^2 / 2
 * (equal for unit rows), which keeps its relative precision: identical rows give exactly 0, and
 * hellinger's square root does not blow the rounding of 1 - <a,b> up to ~1e-4. */
static float one_minus_dot(const simd_kernels *k, const float *a, const float *b, size_t dim) {
    float ab = k->dot(a, b, dim);
    if (UMAPC_UNLIKELY(ab == 0.0f) && metric_row_is_zero(a, dim) && metric_row_is_zero(b, dim)) {
        return 0.0f;
    }
    float s = 1.0f - ab;
    if (UMAPC_UNLIKELY(s < METRIC_NEAR_PAIR)) {
        s = 0.5f * k->sqeuclidean(a, b, dim);
    }
    return s;
}

float metric_surrogate(const metric_plan *plan, const float *a, const float *b, size_t dim) {
    const simd_kernels *k = plan->kernels;
    switch (plan->metric.kind) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
        return k->sqeuclidean(a, b, dim);
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
    case UMAPC_METRIC_HELLINGER:
        return one_minus_dot(k, a, b, dim);
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
        return -k->dot(a, b, dim);
    default:
        return distance_with(k, &plan->metric, a, b, dim);
    }
}

float metric_surrogate_to_distance(const metric_plan *plan, float surrogate) {
    switch (plan->metric.kind) {
    case UMAPC_METRIC_EUCLIDEAN:
        return sqrtf(fmaxf(surrogate, 0.0f));
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
        return clampf(surrogate, 0.0, 2.0);
    case UMAPC_METRIC_HELLINGER:
        return sqrtf(clampf(surrogate, 0.0, 1.0));
    case UMAPC_METRIC_DOT:
        return dot_distance_from_dot(-surrogate);
    default:
        return surrogate;
    }
}

/* ---- pairwise -------------------------------------------------------------------------------- */

/* Rows of x handled together, so each row of y is loaded into L1 once per block. */
#define PAIR_BLOCK 8

static umapc_status check_pairwise_args(const umapc_metric *metric, const float *x, size_t nx,
                                        const float *y, size_t ny, size_t dim, const float *out,
                                        umapc_error *err) {
    umapc_status st = umapc_metric_validate_dim(metric, dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    if (nx == 0 || ny == 0) {
        return UMAPC_OK;
    }
    if (dim == 0 || x == NULL || y == NULL || out == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "pairwise distances need dim > 0 and non-NULL x, y and out");
    }
    if (umapc_mul_size(nx, ny) == SIZE_MAX || umapc_mul_size(nx, dim) == SIZE_MAX ||
        umapc_mul_size(ny, dim) == SIZE_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "pairwise distances: sizes overflow");
    }
    st = umapc_metric_check_data(metric, x, nx, dim, err);
    if (st == UMAPC_OK && (y != x || ny != nx)) {
        st = umapc_metric_check_data(metric, y, ny, dim, err);
    }
    return st;
}

/* Prepared copy of n rows, or NULL on exhaustion. */
static float *prepare_rows(const metric_plan *plan, const float *rows, size_t n, size_t dim,
                           int threads) {
    float *out = umapc_aligned_alloc(n * dim, sizeof(float));
    if (out == NULL) {
        return NULL;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads)
#endif
    for (size_t i = 0; i < n; i++) {
        metric_prepare_row(plan, rows + i * dim, out + i * dim, dim);
    }
    (void)threads;
    return out;
}

static void pairwise_block(const metric_plan *plan, const float *x, size_t i0, size_t i1,
                           const float *y, size_t ny, size_t dim, float *out) {
    for (size_t j = 0; j < ny; j++) {
        const float *yj = y + j * dim;
        for (size_t i = i0; i < i1; i++) {
            float s = metric_surrogate(plan, x + i * dim, yj, dim);
            out[i * ny + j] = metric_surrogate_to_distance(plan, s);
        }
    }
}

umapc_status umapc_pairwise_distances(const umapc_metric *metric, const float *x, size_t nx,
                                      const float *y, size_t ny, size_t dim, float *out,
                                      const umapc_run_options *opts, umapc_error *err) {
    umapc_status st = check_pairwise_args(metric, x, nx, y, ny, dim, out, err);
    if (st != UMAPC_OK || nx == 0 || ny == 0) {
        return st;
    }
    int threads = umapc_resolve_threads(umapc_run_threads(opts));
    metric_plan plan;
    metric_plan_init(&plan, metric);
    float *px = NULL, *py = NULL;
    if (plan.prep != METRIC_PREP_NONE) {
        px = prepare_rows(&plan, x, nx, dim, threads);
        /* y may start where x does and hold more rows (x a leading slice of y) */
        int same = y == x && ny == nx;
        py = (px != NULL && !same) ? prepare_rows(&plan, y, ny, dim, threads) : px;
        if (px == NULL || py == NULL) {
            umapc_aligned_free(px);
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY,
                              "pairwise distances: no memory to prepare %zu rows", nx + ny);
        }
        x = px;
        y = py;
    }
    size_t nblocks = (nx + PAIR_BLOCK - 1) / PAIR_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
#endif
    for (size_t b = 0; b < nblocks; b++) {
        size_t i0 = b * PAIR_BLOCK;
        size_t i1 = i0 + PAIR_BLOCK < nx ? i0 + PAIR_BLOCK : nx;
        pairwise_block(&plan, x, i0, i1, y, ny, dim, out);
    }
    if (py != px) {
        umapc_aligned_free(py);
    }
    umapc_aligned_free(px);
    return UMAPC_OK;
}
