/* The metrics beyond scipy's common ones (seuclidean ... softmax_hellinger in umapc_metric_kind):
 * their parameter and data checks and their distances, as pynndescent's distances.py (umap-learn's
 * distances.py for ll_dirichlet, poincare and softmax_hellinger) defines them. They are rare
 * enough that portable scalar code in double serves; no SIMD tables. */
#include "metric.h"
#include "internal.h"
#include "metric_ot.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Scratch that lives on the stack for rows up to this many coordinates (spearmanr, circular
 * kantorovich); longer rows take it from the heap, once per distance. */
#define STACK_DIM 256

static const double pi = 3.14159265358979323846;

/* ---- parameters and data domains ------------------------------------------------------------ */

size_t umapc_metric_params_needed(umapc_metric_kind kind, size_t dim) {
    switch (kind) {
    case UMAPC_METRIC_SEUCLIDEAN:
    case UMAPC_METRIC_WMINKOWSKI:
        return dim;
    case UMAPC_METRIC_MAHALANOBIS:
        return umapc_mul_size(dim, dim);
    case UMAPC_METRIC_KANTOROVICH:
    case UMAPC_METRIC_SINKHORN: {
        size_t cost = umapc_mul_size(dim, dim);
        return cost == SIZE_MAX ? SIZE_MAX : cost + 1;
    }
    case UMAPC_METRIC_ORDINAL:
        return 1;
    case UMAPC_METRIC_POISSON_COUNT:
        return 2;
    default:
        return 0;
    }
}

static int is_transport(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_KANTOROVICH || kind == UMAPC_METRIC_SINKHORN;
}

/* umap-learn's discrete metrics, which compare one scalar per row. */
static int is_label(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_CATEGORICAL || kind == UMAPC_METRIC_ORDINAL ||
           kind == UMAPC_METRIC_POISSON_COUNT;
}

/* umap-learn's count_distance loops over every count between the two: counts are capped so that
 * one distance stays a million steps or fewer. */
#define MAX_COUNT 1048576.0f

static int takes_params(umapc_metric_kind kind) {
    return umapc_metric_params_needed(kind, 1) != 0;
}

int metric_uses_p(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_MINKOWSKI || kind == UMAPC_METRIC_WMINKOWSKI ||
           kind == UMAPC_METRIC_WASSERSTEIN_1D || kind == UMAPC_METRIC_CIRCULAR_KANTOROVICH;
}

/* The name of a metric's array parameter, as umap-learn's metric_kwds spell it. */
static const char *params_name(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_SEUCLIDEAN:
        return "V";
    case UMAPC_METRIC_WMINKOWSKI:
        return "w";
    case UMAPC_METRIC_KANTOROVICH:
        return "cost and max_iter";
    case UMAPC_METRIC_SINKHORN:
        return "cost and regularization";
    case UMAPC_METRIC_ORDINAL:
        return "support_size";
    case UMAPC_METRIC_POISSON_COUNT:
        return "poisson_lambda and normalisation";
    default:
        return "VI";
    }
}

/* The scalars after an array (kantorovich, sinkhorn) or alone (ordinal, count): their bounds. */
static umapc_status check_scalars(const umapc_metric *m, umapc_error *err) {
    const float *last = m->params + m->n_params - 1;
    switch (m->kind) {
    case UMAPC_METRIC_KANTOROVICH:
        if (!(*last >= 1.0f && *last == floorf(*last))) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "kantorovich needs an integer max_iter >= 1, got %g", (double)*last);
        }
        return UMAPC_OK;
    case UMAPC_METRIC_SINKHORN:
        if (!(*last > 0.0f)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "sinkhorn needs a regularization > 0, got %g", (double)*last);
        }
        return UMAPC_OK;
    case UMAPC_METRIC_ORDINAL: /* it divides */
        if (m->n_params != 1 || !(m->params[0] > 0.0f)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "ordinal needs one support_size > 0, got %g", (double)m->params[0]);
        }
        return UMAPC_OK;
    case UMAPC_METRIC_POISSON_COUNT: /* log(lambda), and a division by the normalisation */
        if (m->n_params != 2 || !(m->params[0] > 0.0f) || m->params[1] == 0.0f) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "count needs poisson_lambda > 0 and a normalisation other than 0, "
                              "got %g and %g",
                              (double)m->params[0], (double)(m->n_params > 1 ? m->params[1] : 0));
        }
        return UMAPC_OK;
    default:
        return UMAPC_OK;
    }
}

umapc_status metric_extra_validate(const umapc_metric *m, umapc_error *err) {
    const char *name = umapc_metric_name(m->kind);
    if (metric_uses_p(m->kind) && !(m->p > 0.0 && isfinite(m->p))) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s needs a finite p > 0, got p=%g",
                          name, m->p);
    }
    /* pynndescent raises for p in (1, 2) and gives NaN for a fractional p > 2 (a negative CDF
     * difference to a fractional power). */
    if (m->kind == UMAPC_METRIC_CIRCULAR_KANTOROVICH && m->p != floor(m->p)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "circular_kantorovich needs an integer p >= 1, got p=%g", m->p);
    }
    if (!takes_params(m->kind)) {
        if (m->params != NULL || m->n_params != 0) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "metric %s takes no array parameter",
                              name);
        }
        return UMAPC_OK;
    }
    if (m->params == NULL || m->n_params == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "metric %s needs its parameter %s", name,
                          params_name(m->kind));
    }
    for (size_t i = 0; i < m->n_params; i++) {
        if (!isfinite(m->params[i])) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "metric %s: %s has a non-finite entry at %zu", name,
                              params_name(m->kind), i);
        }
    }
    return check_scalars(m, err);
}

/* V divides (pynndescent would give inf for 0 and NaN for negatives); w weighs |a-b|^p, where a
 * negative weight could make the sum negative. dim: the data's. */
static umapc_status check_param_signs(const umapc_metric *m, size_t dim, umapc_error *err) {
    for (size_t i = 0; i < m->n_params; i++) {
        float v = m->params[i];
        if (m->kind == UMAPC_METRIC_SEUCLIDEAN && !(v > 0.0f)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "seuclidean needs V > 0 (variances), got V[%zu]=%g", i, (double)v);
        }
        if (m->kind == UMAPC_METRIC_WMINKOWSKI && v < 0.0f) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "wminkowski needs weights w >= 0, got w[%zu]=%g", i, (double)v);
        }
        /* a negative cost would make the cheapest plan unbounded below in the exact solver's
         * terms (its zero potentials assume costs >= 0); the last entry is the scalar */
        if (is_transport(m->kind) && i + 1 < m->n_params && v < 0.0f) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "%s needs a cost matrix >= 0, got cost[%zu, %zu]=%g",
                              umapc_metric_name(m->kind), i / dim, i % dim, (double)v);
        }
    }
    return UMAPC_OK;
}

umapc_status metric_extra_validate_dim(const umapc_metric *m, size_t dim, umapc_error *err) {
    if (m->kind == UMAPC_METRIC_HAVERSINE && dim != 2) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "haversine is only defined for 2 dimensional data (latitude, longitude "
                          "in radians), got %zu dimensions",
                          dim);
    }
    if (is_label(m->kind) && dim != 1) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "%s compares one value per row (umap-learn's discrete metrics: labels "
                          "or counts), got %zu dimensions",
                          umapc_metric_name(m->kind), dim);
    }
    size_t need = umapc_metric_params_needed(m->kind, dim);
    if (need == 0) {
        return UMAPC_OK;
    }
    if (m->n_params != need) {
        if (m->kind == UMAPC_METRIC_MAHALANOBIS) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "mahalanobis needs VI of shape (%zu, %zu) for %zu-dimensional data, "
                              "got %zu entries",
                              dim, dim, dim, m->n_params);
        }
        if (is_transport(m->kind)) {
            return umapc_fail(
                err, UMAPC_ERR_INVALID_ARGUMENT,
                "%s needs a cost of shape (%zu, %zu) for %zu-dimensional data, got %zu "
                "entries",
                umapc_metric_name(m->kind), dim, dim, dim, m->n_params - 1);
        }
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "%s needs %s of length %zu (the data's dimension), got %zu",
                          umapc_metric_name(m->kind), params_name(m->kind), dim, m->n_params);
    }
    return check_param_signs(m, dim, err);
}

static int needs_nonnegative(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_JENSEN_SHANNON:
    case UMAPC_METRIC_SYMMETRIC_KL:
    case UMAPC_METRIC_LL_DIRICHLET:
    case UMAPC_METRIC_WASSERSTEIN_1D:
    case UMAPC_METRIC_CIRCULAR_KANTOROVICH:
    case UMAPC_METRIC_KANTOROVICH:
    case UMAPC_METRIC_SINKHORN:
    case UMAPC_METRIC_POISSON_COUNT:
        return 1;
    default:
        return 0;
    }
}

static int needs_positive_sum(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_LL_DIRICHLET || kind == UMAPC_METRIC_WASSERSTEIN_1D ||
           kind == UMAPC_METRIC_CIRCULAR_KANTOROVICH || is_transport(kind);
}

/* One row against the metric's domain; where pynndescent would return NaN (a log or a division by
 * zero) this refuses the data instead. */
static umapc_status check_row(const umapc_metric *m, const float *row, size_t i, size_t dim,
                              umapc_error *err) {
    const char *name = umapc_metric_name(m->kind);
    double sum = 0.0, sq = 0.0;
    for (size_t d = 0; d < dim; d++) {
        float v = row[d];
        if (needs_nonnegative(m->kind) && v < 0.0f) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "%s needs nonnegative data (histograms), found %g in row %zu", name,
                              (double)v, i);
        }
        if ((m->kind == UMAPC_METRIC_BIT_HAMMING || m->kind == UMAPC_METRIC_BIT_JACCARD) &&
            !(v >= 0.0f && v <= 255.0f && v == floorf(v))) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "%s needs bit-packed rows: each value a byte (an integer 0..255, "
                              "as np.packbits gives), found %g in row %zu",
                              name, (double)v, i);
        }
        if (m->kind == UMAPC_METRIC_POISSON_COUNT && v > MAX_COUNT) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "count supports counts up to %g (its distance steps through every "
                              "count between two), found %g in row %zu",
                              (double)MAX_COUNT, (double)v, i);
        }
        sum += v;
        sq += (double)v * v;
    }
    if (needs_positive_sum(m->kind) && !(sum > 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "%s needs every row to have a positive sum; row %zu sums to 0", name, i);
    }
    if (m->kind == UMAPC_METRIC_POINCARE && !(sq < 1.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "poincare needs rows inside the unit ball, row %zu has squared norm %g",
                          i, sq);
    }
    return UMAPC_OK;
}

static int has_row_domain(umapc_metric_kind kind) {
    return needs_nonnegative(kind) || kind == UMAPC_METRIC_POINCARE ||
           kind == UMAPC_METRIC_POISSON_COUNT || kind == UMAPC_METRIC_BIT_HAMMING ||
           kind == UMAPC_METRIC_BIT_JACCARD;
}

umapc_status metric_extra_check_rows(const umapc_metric *m, const float *data, size_t n, size_t dim,
                                     umapc_error *err) {
    if (!has_row_domain(m->kind)) {
        return UMAPC_OK;
    }
    for (size_t i = 0; i < n; i++) {
        umapc_status st = check_row(m, data + i * dim, i, dim, err);
        if (st != UMAPC_OK) {
            return st;
        }
    }
    return UMAPC_OK;
}

float *metric_own_params(umapc_metric *m, int *failed) {
    *failed = 0;
    if (m->params == NULL || m->n_params == 0) {
        return NULL;
    }
    float *copy = malloc(umapc_mul_size(m->n_params, sizeof *copy));
    if (copy == NULL) {
        *failed = 1;
        return NULL;
    }
    memcpy(copy, m->params, m->n_params * sizeof *copy);
    m->params = copy;
    return copy;
}

/* ---- weighted and standardised -------------------------------------------------------------- */

static float seuclidean_distance(const float *v, const float *a, const float *b, size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double d = (double)a[i] - b[i];
        s += d * d / v[i];
    }
    return (float)sqrt(s);
}

static float wminkowski_distance(const float *w, double p, const float *a, const float *b,
                                 size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += w[i] * pow(fabs((double)a[i] - b[i]), p);
    }
    return (float)pow(s, 1.0 / p);
}

/* Without a positive semi-definite VI the form can go negative, where pynndescent and scipy give
 * NaN; this gives 0 there instead, so that no search meets a NaN. */
static float mahalanobis_distance(const float *vi, const float *a, const float *b, size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double row = 0.0;
        const float *vrow = vi + i * dim;
        for (size_t j = 0; j < dim; j++) {
            row += vrow[j] * ((double)a[j] - b[j]);
        }
        s += row * ((double)a[i] - b[i]);
    }
    return (float)sqrt(fmax(s, 0.0));
}

static float haversine_distance(const float *a, const float *b) {
    double sin_lat = sin(0.5 * ((double)a[0] - b[0]));
    double sin_long = sin(0.5 * ((double)a[1] - b[1]));
    double r = sqrt(sin_lat * sin_lat + cos(a[0]) * cos(b[0]) * sin_long * sin_long);
    return (float)(2.0 * asin(fmin(r, 1.0)));
}

/* ---- spearmanr ------------------------------------------------------------------------------ */

typedef struct ranked {
    float value;
    uint32_t at;
} ranked;

static int ranked_cmp(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->value != b->value) {
        return a->value < b->value ? -1 : 1;
    }
    return (a->at > b->at) - (a->at < b->at);
}

/* Ranks 1..dim of row into out, ties sharing their average rank (scipy's "average"). */
static void rank_row(const float *row, size_t dim, ranked *tmp, double *out) {
    for (size_t i = 0; i < dim; i++) {
        tmp[i] = (ranked){row[i], (uint32_t)i};
    }
    qsort(tmp, dim, sizeof *tmp, ranked_cmp);
    for (size_t lo = 0; lo < dim;) {
        size_t hi = lo + 1;
        while (hi < dim && tmp[hi].value == tmp[lo].value) {
            hi++;
        }
        double r = 0.5 * (double)(lo + 1 + hi); /* mean of ranks lo+1 .. hi */
        for (size_t i = lo; i < hi; i++) {
            out[tmp[i].at] = r;
        }
        lo = hi;
    }
}

/* pynndescent's correlation on ranks: 0 for two constant rank rows, 1 when the centred dot is 0. */
static float rank_correlation(const double *x, const double *y, size_t dim) {
    double mean = 0.5 * ((double)dim + 1.0), xy = 0.0, xx = 0.0, yy = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double u = x[i] - mean, v = y[i] - mean;
        xy += u * v;
        xx += u * u;
        yy += v * v;
    }
    if (xx == 0.0 && yy == 0.0) {
        return 0.0f;
    }
    if (xy == 0.0) {
        return 1.0f;
    }
    double d = 1.0 - xy / sqrt(xx * yy);
    return (float)(d < 0.0 ? 0.0 : (d > 2.0 ? 2.0 : d));
}

static float spearmanr_distance(const float *a, const float *b, size_t dim) {
    ranked tmp_stack[STACK_DIM];
    double rank_stack[2 * STACK_DIM];
    ranked *tmp = tmp_stack;
    double *ranks = rank_stack;
    void *heap = NULL;
    if (dim > STACK_DIM || dim > UINT32_MAX) {
        heap = malloc(dim * (sizeof *tmp + 2 * sizeof *ranks));
        if (heap == NULL) {
            return NAN;
        }
        ranks = heap;
        tmp = (ranked *)(ranks + 2 * dim);
    }
    rank_row(a, dim, tmp, ranks);
    rank_row(b, dim, tmp, ranks + dim);
    float d = rank_correlation(ranks, ranks + dim, dim);
    free(heap);
    return d;
}

/* ---- binary (nonzero is true) --------------------------------------------------------------- */

typedef struct bool_counts {
    double tt, tf, ft, n; /* both true, only a, only b, all */
} bool_counts;

static bool_counts count_bools(const float *a, const float *b, size_t dim) {
    size_t tt = 0, tf = 0, ft = 0;
    for (size_t i = 0; i < dim; i++) {
        int x = a[i] != 0.0f, y = b[i] != 0.0f;
        tt += (size_t)(x & y);
        tf += (size_t)(x & (y ^ 1));
        ft += (size_t)((x ^ 1) & y);
    }
    return (bool_counts){(double)tt, (double)tf, (double)ft, (double)dim};
}

float metric_binary_from_counts(umapc_metric_kind kind, double tt, double tf, double ft, double n) {
    double ne = tf + ft;
    switch (kind) {
    case UMAPC_METRIC_DICE:
        return ne == 0.0 ? 0.0f : (float)(ne / (2.0 * tt + ne));
    case UMAPC_METRIC_KULSINSKI:
        return ne == 0.0 ? 0.0f : (float)((ne - tt + n) / (ne + n));
    case UMAPC_METRIC_MATCHING:
        return (float)(ne / n);
    case UMAPC_METRIC_ROGERSTANIMOTO:
    case UMAPC_METRIC_SOKALMICHENER:
        return (float)(2.0 * ne / (n + ne));
    case UMAPC_METRIC_RUSSELLRAO: /* 0 when the nonzero patterns agree */
        return ne == 0.0 ? 0.0f : (float)((n - tt) / n);
    case UMAPC_METRIC_SOKALSNEATH:
        return ne == 0.0 ? 0.0f : (float)(ne / (0.5 * tt + ne));
    default: { /* yule */
        if (tf == 0.0 || ft == 0.0) {
            return 0.0f;
        }
        double ff = n - tt - tf - ft;
        return (float)(2.0 * tf * ft / (tt * ff + tf * ft));
    }
    }
}

static float binary_distance(umapc_metric_kind kind, const float *a, const float *b, size_t dim) {
    bool_counts c = count_bools(a, b, dim);
    return metric_binary_from_counts(kind, c.tt, c.tf, c.ft, c.n);
}

/* ---- distributions -------------------------------------------------------------------------- */

static double row_sum(const float *a, size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += a[i];
    }
    return s;
}

/* Jensen-Shannon (kl = 0) or symmetric KL (kl = 1) of the rows smoothed by METRIC_FLOAT32_EPS. */
static float divergence(int kl, const float *a, const float *b, size_t dim) {
    double la = row_sum(a, dim) + METRIC_FLOAT32_EPS * (double)dim;
    double lb = row_sum(b, dim) + METRIC_FLOAT32_EPS * (double)dim;
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += metric_divergence_term(kl, (a[i] + METRIC_FLOAT32_EPS) / la,
                                    (b[i] + METRIC_FLOAT32_EPS) / lb);
    }
    return (float)s;
}

/* umap-learn's approx_log_Gamma, log_beta and log_single_beta (Stirling-type approximations). */
static double approx_log_gamma(double x) {
    if (x == 1.0) {
        return 0.0;
    }
    return x * log(x) - x + 0.5 * log(2.0 * pi / x) + 1.0 / (x * 12.0);
}

double metric_log_beta(double x, double y) {
    double a = fmin(x, y), b = fmax(x, y);
    if (b < 5.0) {
        double value = -log(b);
        /* a < b < 5: at most four steps, and no integer conversion of a (unchecked rows may
         * hold anything) */
        for (double i = 1.0; i < floor(a); i += 1.0) {
            value += log(i) - log(b + i);
        }
        return value;
    }
    return approx_log_gamma(x) + approx_log_gamma(y) - approx_log_gamma(x + y);
}

double metric_log_single_beta(double x) {
    return log(2.0) * (-2.0 * x + 0.5) + 0.5 * log(2.0 * pi / x) + 0.125 / x;
}

float metric_ll_dirichlet_from_sums(double n1, double n2, double log_b, double self1, double self2,
                                    int equal) {
    double r = 1.0 / n2 * (log_b - metric_log_beta(n1, n2) - (self2 - metric_log_single_beta(n2))) +
               1.0 / n1 * (log_b - metric_log_beta(n2, n1) - (self1 - metric_log_single_beta(n1)));
    if (r >= 0.0) {
        return (float)sqrt(r);
    }
    return equal ? 0.0f : FLT_MAX;
}

/* umap-learn's ll_dirichlet (dense: coordinates count from 0.9 up, as umap-learn's dense form). */
static float ll_dirichlet_distance(const float *a, const float *b, size_t dim) {
    double n1 = row_sum(a, dim), n2 = row_sum(b, dim);
    double log_b = 0.0, self1 = 0.0, self2 = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double x = a[i], y = b[i];
        if (x * y > 0.9) {
            log_b += metric_log_beta(x, y);
        }
        self1 += x * y > 0.9 || x > 0.9 ? metric_log_single_beta(x) : 0.0;
        self2 += x * y > 0.9 || y > 0.9 ? metric_log_single_beta(y) : 0.0;
    }
    return metric_ll_dirichlet_from_sums(n1, n2, log_b, self1, self2,
                                         memcmp(a, b, dim * sizeof *a) == 0);
}

static float wasserstein_1d_distance(double p, const float *a, const float *b, size_t dim) {
    double sa = row_sum(a, dim), sb = row_sum(b, dim), ca = 0.0, cb = 0.0, s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        ca += a[i] / sa;
        cb += b[i] / sb;
        s += pow(fabs(ca - cb), p);
    }
    return (float)pow(s, 1.0 / p);
}

static int double_cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* numpy's median: the mean of the two middle values for an even count. Sorts v. */
static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, double_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* pynndescent's circular_kantorovich: the CDF difference, shifted by the median of its p-th
 * powers (signed, as pynndescent takes them), in the p-norm. */
static float circular_kantorovich_distance(double p, const float *a, const float *b, size_t dim) {
    double stack[2 * STACK_DIM];
    double *diff = stack;
    if (dim > STACK_DIM) {
        diff = malloc(2 * dim * sizeof *diff);
        if (diff == NULL) {
            return NAN;
        }
    }
    double *powers = diff + dim;
    double sa = row_sum(a, dim), sb = row_sum(b, dim), ca = 0.0, cb = 0.0;
    for (size_t i = 0; i < dim; i++) {
        ca += a[i] / sa;
        cb += b[i] / sb;
        diff[i] = ca - cb;
        powers[i] = pow(diff[i], p);
    }
    double mu = median(powers, dim), s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += pow(fabs(diff[i] - mu), p);
    }
    if (diff != stack) {
        free(diff);
    }
    return (float)(p == 1.0 ? s : (p == 2.0 ? sqrt(s) : pow(s, 1.0 / p)));
}

/* umap-learn's softmax then hellinger, with both softmaxes' sums folded into one pass. */
static float softmax_hellinger_distance(const float *a, const float *b, size_t dim) {
    /* float maxima by comparison: gcc 12's aarch64 vectoriser crashes (an internal compiler
     * error) on the two fmax reductions in double this loop had */
    float ma = a[0], mb = b[0];
    for (size_t i = 1; i < dim; i++) {
        ma = a[i] > ma ? a[i] : ma;
        mb = b[i] > mb ? b[i] : mb;
    }
    double sa = 0.0, sb = 0.0, cross = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double ea = a[i] - ma, eb = b[i] - mb;
        sa += exp(ea);
        sb += exp(eb);
        cross += exp(0.5 * (ea + eb));
    }
    return (float)sqrt(fmax(1.0 - cross / sqrt(sa * sb), 0.0));
}

/* ---- geometry ------------------------------------------------------------------------------- */

typedef struct pair_sums {
    double ab, aa, bb, dd; /* <a,b>, |a|^2, |b|^2, |a-b|^2 */
} pair_sums;

static pair_sums sums_of(const float *a, const float *b, size_t dim) {
    pair_sums s = {0};
    for (size_t i = 0; i < dim; i++) {
        double x = a[i], y = b[i];
        s.ab += x * y;
        s.aa += x * x;
        s.bb += y * y;
        s.dd += (x - y) * (x - y);
    }
    return s;
}

static float poincare_distance(const float *a, const float *b, size_t dim) {
    pair_sums s = sums_of(a, b, dim);
    return (float)acosh(1.0 + 2.0 * (s.dd / ((1.0 - s.aa) * (1.0 - s.bb))));
}

/* pynndescent's true_angular, formula and all: 1 - angle / pi, so equal directions give 1 and
 * orthogonal ones 0.5; FLT_MAX for <a,b> <= 0 or one zero row, 0 for two zero rows. */
static float true_angular_distance(const float *a, const float *b, size_t dim) {
    pair_sums s = sums_of(a, b, dim);
    if (s.aa == 0.0 && s.bb == 0.0) {
        return 0.0f;
    }
    if (s.aa == 0.0 || s.bb == 0.0 || s.ab <= 0.0) {
        return FLT_MAX;
    }
    return (float)(1.0 - acos(fmin(s.ab / sqrt(s.aa * s.bb), 1.0)) / pi);
}

/* pynndescent's TS-SS. A zero row, where pynndescent divides 0 by 0, counts as aligned with the
 * other (no triangle): distance 0. */
static float tsss_distance(const float *a, const float *b, size_t dim) {
    pair_sums s = sums_of(a, b, dim);
    double na = sqrt(s.aa), nb = sqrt(s.bb);
    double c = na > 0.0 && nb > 0.0 ? s.ab / (na * nb) : 1.0;
    c = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    double theta = acos(c) + 10.0 * pi / 180.0;
    double side = sqrt(s.dd) + fabs(na - nb);
    double sector = side * side * theta / 2.0;
    double triangle = na * nb * sin(theta) / 2.0;
    return (float)(triangle * sector);
}

/* ---- bit-packed rows ------------------------------------------------------------------------ */

static unsigned popcount8(unsigned v) {
    v = v - ((v >> 1) & 0x55u);
    v = (v & 0x33u) + ((v >> 2) & 0x33u);
    return (v + (v >> 4)) & 0x0Fu;
}

/* A row's byte i as umapc_metric_check_data admits it (an integer 0..255); callers that skipped
 * that check get 0 for anything else rather than an undefined conversion. */
static unsigned byte_at(float v) {
    return v >= 0.0f && v <= 255.0f ? (unsigned)v : 0u;
}

static float bit_distance(int jaccard, const float *a, const float *b, size_t dim) {
    size_t differ = 0, both = 0, either = 0;
    for (size_t i = 0; i < dim; i++) {
        unsigned x = byte_at(a[i]), y = byte_at(b[i]);
        differ += popcount8(x ^ y);
        both += popcount8(x & y);
        either += popcount8(x | y);
    }
    if (!jaccard) {
        return (float)differ;
    }
    if (either == 0) {
        return 0.0f;
    }
    return (float)(-log((double)both / (double)either)); /* inf with no common bit */
}

/* ---- umap-learn's discrete metrics ---------------------------------------------------------- */

/* umap-learn's count_distance, as written: log-probabilities of a Poisson(lambda) summed over the
 * counts from the smaller to the larger, over the normalisation. Its running log-factorial starts
 * at log((lo - 1)!) below 10 and at approx_log_gamma(lo + 1) = ~log(lo!) above, and log(0) enters
 * it at lo = 0 (an infinite distance to counts >= 2): kept, so that the values are umap-learn's. */
static float count_distance(double lambda, double normalisation, double x, double y) {
    double lo_value = fmin(x, y), hi_value = fmax(x, y);
    /* the rows were checked: counts in [0, MAX_COUNT] */
    long lo = lo_value >= 0.0 ? (long)lo_value : 0, hi = hi_value >= 0.0 ? (long)hi_value : 0;
    double log_lambda = log(lambda), log_k_factorial = 0.0;
    if (lo >= 10) {
        log_k_factorial = approx_log_gamma((double)lo + 1.0);
    } else {
        for (long k = 2; k < lo; k++) {
            log_k_factorial += log((double)k);
        }
    }
    double result = 0.0;
    for (long k = lo; k < hi; k++) {
        result += (double)k * log_lambda - lambda - log_k_factorial;
        log_k_factorial += log((double)k);
    }
    return (float)(result / normalisation);
}

static float label_distance(const umapc_metric *m, float a, float b) {
    switch (m->kind) {
    case UMAPC_METRIC_CATEGORICAL:
        return a == b ? 0.0f : 1.0f;
    case UMAPC_METRIC_ORDINAL:
        return (float)(fabs((double)a - b) / m->params[0]);
    default:
        return count_distance(m->params[0], m->params[1], a, b);
    }
}

/* ---- dispatch ------------------------------------------------------------------------------- */

float metric_extra_distance(const umapc_metric *m, const float *a, const float *b, size_t dim) {
    switch (m->kind) {
    case UMAPC_METRIC_SEUCLIDEAN:
        return seuclidean_distance(m->params, a, b, dim);
    case UMAPC_METRIC_WMINKOWSKI:
        return wminkowski_distance(m->params, m->p, a, b, dim);
    case UMAPC_METRIC_MAHALANOBIS:
        return mahalanobis_distance(m->params, a, b, dim);
    case UMAPC_METRIC_HAVERSINE:
        return haversine_distance(a, b);
    case UMAPC_METRIC_SPEARMANR:
        return spearmanr_distance(a, b, dim);
    case UMAPC_METRIC_DICE:
    case UMAPC_METRIC_KULSINSKI:
    case UMAPC_METRIC_MATCHING:
    case UMAPC_METRIC_ROGERSTANIMOTO:
    case UMAPC_METRIC_RUSSELLRAO:
    case UMAPC_METRIC_SOKALMICHENER:
    case UMAPC_METRIC_SOKALSNEATH:
    case UMAPC_METRIC_YULE:
        return binary_distance(m->kind, a, b, dim);
    case UMAPC_METRIC_JENSEN_SHANNON:
        return divergence(0, a, b, dim);
    case UMAPC_METRIC_SYMMETRIC_KL:
        return divergence(1, a, b, dim);
    case UMAPC_METRIC_LL_DIRICHLET:
        return ll_dirichlet_distance(a, b, dim);
    case UMAPC_METRIC_WASSERSTEIN_1D:
        return wasserstein_1d_distance(m->p, a, b, dim);
    case UMAPC_METRIC_CIRCULAR_KANTOROVICH:
        return circular_kantorovich_distance(m->p, a, b, dim);
    case UMAPC_METRIC_POINCARE:
        return poincare_distance(a, b, dim);
    case UMAPC_METRIC_TRUE_ANGULAR:
        return true_angular_distance(a, b, dim);
    case UMAPC_METRIC_TSSS:
        return tsss_distance(a, b, dim);
    case UMAPC_METRIC_BIT_HAMMING:
        return bit_distance(0, a, b, dim);
    case UMAPC_METRIC_BIT_JACCARD:
        return bit_distance(1, a, b, dim);
    case UMAPC_METRIC_SOFTMAX_HELLINGER:
        return softmax_hellinger_distance(a, b, dim);
    case UMAPC_METRIC_KANTOROVICH:
        return metric_ot_kantorovich(m->params, m->params[m->n_params - 1], a, b, dim);
    case UMAPC_METRIC_SINKHORN:
        return metric_ot_sinkhorn(m->params, m->params[m->n_params - 1], a, b, dim);
    case UMAPC_METRIC_CATEGORICAL:
    case UMAPC_METRIC_ORDINAL:
    case UMAPC_METRIC_POISSON_COUNT:
        return label_distance(m, a[0], b[0]);
    default:
        return NAN;
    }
}
