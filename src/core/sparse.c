/* Distances between sparse (CSR) rows. Each kernel is one merge of the two rows' sorted column
 * lists: over their intersection where the metric only sees coordinates nonzero in both (cosine,
 * hellinger, dot), over their union otherwise, with the coordinates zero in both rows accounted
 * for in closed form (hamming, correlation, the binary family). The values equal the dense
 * metric's on the densified rows. */
#include "sparse_rows.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int umapc_metric_sparse_supported(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
    case UMAPC_METRIC_MANHATTAN:
    case UMAPC_METRIC_CHEBYSHEV:
    case UMAPC_METRIC_MINKOWSKI:
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_CANBERRA:
    case UMAPC_METRIC_BRAYCURTIS:
    case UMAPC_METRIC_HAMMING:
    case UMAPC_METRIC_JACCARD:
    case UMAPC_METRIC_HELLINGER:
    case UMAPC_METRIC_INNER_PRODUCT:
    case UMAPC_METRIC_DICE:
    case UMAPC_METRIC_KULSINSKI:
    case UMAPC_METRIC_MATCHING:
    case UMAPC_METRIC_ROGERSTANIMOTO:
    case UMAPC_METRIC_RUSSELLRAO:
    case UMAPC_METRIC_SOKALMICHENER:
    case UMAPC_METRIC_SOKALSNEATH:
    case UMAPC_METRIC_YULE:
    case UMAPC_METRIC_JENSEN_SHANNON:
    case UMAPC_METRIC_SYMMETRIC_KL:
    case UMAPC_METRIC_WASSERSTEIN_1D:
    case UMAPC_METRIC_LL_DIRICHLET:
        return 1;
    default:
        return 0;
    }
}

/* ---- checks -----------------------------------------------------------------------------------
 */

static umapc_status check_row_structure(const umapc_csr *x, size_t i, umapc_error *err) {
    int64_t lo = x->indptr[i], hi = x->indptr[i + 1];
    for (int64_t e = lo; e < hi; e++) {
        int32_t c = x->indices[e];
        if (c < 0 || (size_t)c >= x->n_cols) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "sparse rows: column index %ld in row %zu is outside [0, %zu)",
                              (long)c, i, x->n_cols);
        }
        if (e > lo && c <= x->indices[e - 1]) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "sparse rows: the column indices of row %zu are not strictly "
                              "increasing (unsorted or duplicate entries)",
                              i);
        }
        if (!isfinite(x->data[e])) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "sparse rows: row %zu holds a non-finite value (NaN or inf)", i);
        }
    }
    return UMAPC_OK;
}

umapc_status umapc_csr_check(const umapc_csr *x, umapc_error *err) {
    if (x == NULL || x->indptr == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "sparse rows: NULL matrix or indptr");
    }
    if (x->n_cols == 0 || x->n_cols > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "sparse rows: need 1 <= n_cols <= 2^31 - 1, got %zu", x->n_cols);
    }
    if (x->indptr[0] != 0 || x->indptr[x->n_rows] < 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "sparse rows: indptr must start at 0 and end at the entry count");
    }
    if (x->indptr[x->n_rows] > 0 && (x->indices == NULL || x->data == NULL)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "sparse rows: NULL indices or data");
    }
    /* The offsets first: a row must not reach past the entries before its own are read. */
    for (size_t i = 0; i < x->n_rows; i++) {
        if (x->indptr[i + 1] < x->indptr[i]) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "sparse rows: indptr decreases at row %zu (%lld < %lld)", i,
                              (long long)x->indptr[i + 1], (long long)x->indptr[i]);
        }
    }
    for (size_t i = 0; i < x->n_rows; i++) {
        umapc_status st = check_row_structure(x, i, err);
        if (st != UMAPC_OK) {
            return st;
        }
    }
    return UMAPC_OK;
}

static int needs_nonnegative(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_HELLINGER || kind == UMAPC_METRIC_JENSEN_SHANNON ||
           kind == UMAPC_METRIC_SYMMETRIC_KL || kind == UMAPC_METRIC_WASSERSTEIN_1D ||
           kind == UMAPC_METRIC_LL_DIRICHLET;
}

/* wasserstein_1d and ll_dirichlet divide by each row's sum, as the dense metrics' domain checks
 * require. */
static umapc_status check_row_sums(const umapc_metric *metric, const umapc_csr *x,
                                   umapc_error *err) {
    if (metric->kind != UMAPC_METRIC_WASSERSTEIN_1D && metric->kind != UMAPC_METRIC_LL_DIRICHLET) {
        return UMAPC_OK;
    }
    for (size_t i = 0; i < x->n_rows; i++) {
        double sum = 0.0;
        for (int64_t e = x->indptr[i]; e < x->indptr[i + 1]; e++) {
            sum += x->data[e];
        }
        if (!(sum > 0.0)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "%s needs every row to have a positive sum; row %zu sums to 0",
                              umapc_metric_name(metric->kind), i);
        }
    }
    return UMAPC_OK;
}

umapc_status umapc_sparse_check_data(const umapc_metric *metric, const umapc_csr *x,
                                     umapc_error *err) {
    umapc_status st = umapc_csr_check(x, err);
    if (st != UMAPC_OK) {
        return st;
    }
    if (metric == NULL || !umapc_metric_sparse_supported(metric->kind)) {
        const char *name = metric != NULL ? umapc_metric_name(metric->kind) : NULL;
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "metric %s has no sparse kernel (as in umap-learn); pass dense data",
                          name != NULL ? name : "(none)");
    }
    st = umapc_metric_validate_dim(metric, x->n_cols, err);
    if (st != UMAPC_OK) {
        return st;
    }
    double limit = umapc_metric_max_magnitude(metric, x->n_cols);
    size_t nnz = (size_t)x->indptr[x->n_rows];
    for (size_t e = 0; e < nnz; e++) {
        float v = x->data[e];
        if (needs_nonnegative(metric->kind) && v < 0.0f) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "%s needs nonnegative data, found %g",
                              umapc_metric_name(metric->kind), (double)v);
        }
        if (fabs((double)v) > limit) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "data has a value of magnitude %g; the largest magnitude supported "
                              "for metric %s in %zu dimensions is %.3g (distances would overflow "
                              "float32)",
                              fabs((double)v), umapc_metric_name(metric->kind), x->n_cols, limit);
        }
    }
    return check_row_sums(metric, x, err);
}

/* ---- preparation ------------------------------------------------------------------------------
 */

typedef struct row_view {
    const int32_t *idx;
    const float *val;
    size_t nnz;
} row_view;

static inline row_view row_of(const sparse_rows *r, size_t i) {
    int64_t lo = r->indptr[i];
    return (row_view){r->indices + lo, r->data + lo, (size_t)(r->indptr[i + 1] - lo)};
}

static int prepares_values(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_COSINE || kind == UMAPC_METRIC_DOT ||
           kind == UMAPC_METRIC_HELLINGER;
}

static int has_terms(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_CORRELATION || kind == UMAPC_METRIC_JENSEN_SHANNON ||
           kind == UMAPC_METRIC_SYMMETRIC_KL || kind == UMAPC_METRIC_WASSERSTEIN_1D ||
           kind == UMAPC_METRIC_LL_DIRICHLET;
}

/* Writes row i's prepared values (unit L2 norm, or sqrt(x / sum x) for hellinger) and whether
 * the row is zero. Sums in double: rows of denormals normalise too. */
static void prepare_values(sparse_rows *r, const umapc_csr *x, size_t i) {
    int64_t lo = x->indptr[i], hi = x->indptr[i + 1];
    int hell = r->plan.metric.kind == UMAPC_METRIC_HELLINGER;
    double s = 0.0;
    for (int64_t e = lo; e < hi; e++) {
        s += hell ? (double)x->data[e] : (double)x->data[e] * x->data[e];
    }
    double scale = s > 0.0 ? (hell ? 1.0 / s : 1.0 / sqrt(s)) : 0.0;
    for (int64_t e = lo; e < hi; e++) {
        double v = x->data[e] * scale;
        r->owned[e] = (float)(hell ? sqrt(v) : v);
    }
    if (r->zero != NULL) {
        r->zero[i] = !(s > 0.0);
    }
}

/* Correlation: the row's mean over all dim coordinates and its centred norm (the stored entries
 * and the implicit zeros, each at distance mean). The divergences and wasserstein_1d: the row's
 * sum. */
static void prepare_terms(sparse_rows *r, size_t i) {
    row_view v = row_of(r, i);
    double sum = 0.0;
    for (size_t e = 0; e < v.nnz; e++) {
        sum += v.val[e];
    }
    if (r->plan.metric.kind == UMAPC_METRIC_LL_DIRICHLET) {
        double self = 0.0; /* umap-learn's sparse form: every stored coordinate counts */
        for (size_t e = 0; e < v.nnz; e++) {
            self += metric_log_single_beta(v.val[e]);
        }
        r->terms[2 * i] = sum;
        r->terms[2 * i + 1] = self;
        return;
    }
    if (r->plan.metric.kind != UMAPC_METRIC_CORRELATION) {
        r->terms[2 * i] = sum;
        r->terms[2 * i + 1] = 0.0;
        return;
    }
    double mean = sum / (double)r->dim, sq = 0.0;
    for (size_t e = 0; e < v.nnz; e++) {
        double c = v.val[e] - mean;
        sq += c * c;
    }
    r->terms[2 * i] = mean;
    r->terms[2 * i + 1] = sqrt(sq + (double)(r->dim - v.nnz) * mean * mean);
}

int sparse_rows_init(sparse_rows *r, const umapc_metric *metric, const umapc_csr *x, int threads) {
    memset(r, 0, sizeof *r);
    metric_plan_init(&r->plan, metric);
    r->n = x->n_rows;
    r->dim = x->n_cols;
    r->indptr = x->indptr;
    r->indices = x->indices;
    r->data = x->data;
    size_t nnz = (size_t)x->indptr[x->n_rows];
    umapc_metric_kind kind = metric->kind;
    if (prepares_values(kind)) {
        r->owned = malloc((nnz > 0 ? nnz : 1) * sizeof *r->owned);
        if (kind != UMAPC_METRIC_DOT) {
            r->zero = malloc(r->n > 0 ? r->n : 1);
        }
        if (r->owned == NULL || (kind != UMAPC_METRIC_DOT && r->zero == NULL)) {
            return -1;
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < r->n; i++) {
            prepare_values(r, x, i);
        }
        r->data = r->owned;
    }
    if (has_terms(kind)) {
        r->terms = malloc(umapc_mul_size(2 * sizeof(double), r->n > 0 ? r->n : 1));
        if (r->terms == NULL) {
            return -1;
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < r->n; i++) {
            prepare_terms(r, i);
        }
    }
    (void)threads;
    return 0;
}

void sparse_rows_free(sparse_rows *r) {
    free(r->owned);
    free(r->terms);
    free(r->zero);
    memset(r, 0, sizeof *r);
}

/* ---- merges -----------------------------------------------------------------------------------
 */

/* sum a*b over the columns both rows hold. The cursors advance by comparison results, not
 * branches: which list is ahead is unpredictable. */
static double merge_dot(row_view a, row_view b) {
    double s = 0.0;
    size_t p = 0, q = 0;
    while (p < a.nnz && q < b.nnz) {
        int32_t ca = a.idx[p], cb = b.idx[q];
        s += ca == cb ? (double)a.val[p] * b.val[q] : 0.0;
        p += ca <= cb;
        q += cb <= ca;
    }
    return s;
}

static double merge_sqdiff(row_view a, row_view b) {
    double s = 0.0;
    size_t p = 0, q = 0;
    while (p < a.nnz && q < b.nnz) {
        int32_t ca = a.idx[p], cb = b.idx[q];
        double x = ca <= cb ? a.val[p] : 0.0, y = cb <= ca ? b.val[q] : 0.0;
        s += (x - y) * (x - y);
        p += ca <= cb;
        q += cb <= ca;
    }
    for (; p < a.nnz; p++) {
        s += (double)a.val[p] * a.val[p];
    }
    for (; q < b.nnz; q++) {
        s += (double)b.val[q] * b.val[q];
    }
    return s;
}

/* What a union merge accumulates for the metrics without a merge of their own. */
typedef struct union_sums {
    double s, t;        /* metric sums (numerator, denominator / max) */
    size_t tt, tf, ft;  /* nonzero in both, in the first only, in the second only */
    size_t differ, len; /* coordinates that differ; coordinates in the union */
} union_sums;

static inline void union_add(umapc_metric_kind kind, double p, double x, double y, union_sums *u) {
    double d = fabs(x - y);
    switch (kind) {
    case UMAPC_METRIC_MANHATTAN:
        u->s += d;
        break;
    case UMAPC_METRIC_CHEBYSHEV:
        u->s = d > u->s ? d : u->s;
        break;
    case UMAPC_METRIC_MINKOWSKI:
        u->s += pow(d, p);
        break;
    case UMAPC_METRIC_CANBERRA: {
        double den = fabs(x) + fabs(y);
        u->s += den > 0.0 ? d / den : 0.0;
        break;
    }
    case UMAPC_METRIC_BRAYCURTIS:
        u->s += d;
        u->t += fabs(x + y);
        break;
    default: {
        int nx = x != 0.0, ny = y != 0.0;
        u->tt += (size_t)(nx & ny);
        u->tf += (size_t)(nx & (ny ^ 1));
        u->ft += (size_t)((nx ^ 1) & ny);
        u->differ += x != y;
        u->len += (nx | ny);
        break;
    }
    }
}

static union_sums merge_union(umapc_metric_kind kind, double p, row_view a, row_view b) {
    union_sums u = {0};
    size_t i = 0, j = 0;
    while (i < a.nnz && j < b.nnz) {
        int32_t ca = a.idx[i], cb = b.idx[j];
        double x = ca <= cb ? a.val[i] : 0.0, y = cb <= ca ? b.val[j] : 0.0;
        union_add(kind, p, x, y, &u);
        i += ca <= cb;
        j += cb <= ca;
    }
    for (; i < a.nnz; i++) {
        union_add(kind, p, a.val[i], 0.0, &u);
    }
    for (; j < b.nnz; j++) {
        union_add(kind, p, 0.0, b.val[j], &u);
    }
    return u;
}

/* Correlation's centred dot over all dim coordinates: the union's centred products, and the
 * coordinates zero in both rows, each (-ma)(-mb). */
static double centred_dot(row_view a, row_view b, double ma, double mb, size_t dim) {
    double s = 0.0;
    size_t i = 0, j = 0, len = 0;
    while (i < a.nnz && j < b.nnz) {
        int32_t ca = a.idx[i], cb = b.idx[j];
        double x = ca <= cb ? a.val[i] : 0.0, y = cb <= ca ? b.val[j] : 0.0;
        s += (x - ma) * (y - mb);
        i += ca <= cb;
        j += cb <= ca;
        len++;
    }
    for (; i < a.nnz; i++, len++) {
        s += (a.val[i] - ma) * (0.0 - mb);
    }
    for (; j < b.nnz; j++, len++) {
        s += (0.0 - ma) * (b.val[j] - mb);
    }
    return s + (double)(dim - len) * ma * mb;
}

/* pynndescent's sparse divergences: the dense divergence over the coordinates where either row is
 * nonzero (len of them), smoothed by the float32 epsilon. */
static float merge_divergence(int kl, row_view a, row_view b, double sa, double sb, size_t len) {
    double la = sa + METRIC_FLOAT32_EPS * (double)len, lb = sb + METRIC_FLOAT32_EPS * (double)len;
    double s = 0.0;
    size_t i = 0, j = 0;
    while (i < a.nnz || j < b.nnz) {
        int32_t ca = i < a.nnz ? a.idx[i] : INT32_MAX, cb = j < b.nnz ? b.idx[j] : INT32_MAX;
        double x = ca <= cb ? a.val[i] : 0.0, y = cb <= ca ? b.val[j] : 0.0;
        i += ca <= cb;
        j += cb <= ca;
        if (x + y != 0.0) {
            s += metric_divergence_term(kl, (x + METRIC_FLOAT32_EPS) / la,
                                        (y + METRIC_FLOAT32_EPS) / lb);
        }
    }
    return (float)s;
}

static float clamp_unit2(double v) {
    return (float)(v < 0.0 ? 0.0 : (v > 2.0 ? 2.0 : v));
}

/* 1 - <a,b> of unit (or zero) rows, as the dense one_minus_dot: two zero rows give 0, and near
 * pairs are recomputed as |a-b|^2 / 2, which keeps their digits. */
static float one_minus_dot(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j,
                           row_view a, row_view b) {
    if (UMAPC_UNLIKELY(ra->zero[i] | rb->zero[j])) {
        return (ra->zero[i] & rb->zero[j]) ? 0.0f : 1.0f;
    }
    float s = (float)(1.0 - merge_dot(a, b));
    if (UMAPC_UNLIKELY(s < METRIC_NEAR_PAIR)) {
        s = (float)(0.5 * merge_sqdiff(a, b));
    }
    return s;
}

static float correlation(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j,
                         row_view a, row_view b) {
    double ma = ra->terms[2 * i], na = ra->terms[2 * i + 1];
    double mb = rb->terms[2 * j], nb = rb->terms[2 * j + 1];
    if (na == 0.0 || nb == 0.0) {
        return (na == 0.0 && nb == 0.0) ? 0.0f : 1.0f;
    }
    return clamp_unit2(1.0 - centred_dot(a, b, ma, mb, ra->dim) / (na * nb));
}

static float from_union(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j,
                        row_view a, row_view b) {
    umapc_metric_kind kind = ra->plan.metric.kind;
    double p = ra->plan.metric.p, n = (double)ra->dim;
    union_sums u = merge_union(kind, p, a, b);
    switch (kind) {
    case UMAPC_METRIC_MANHATTAN:
    case UMAPC_METRIC_CHEBYSHEV:
    case UMAPC_METRIC_CANBERRA:
        return (float)u.s;
    case UMAPC_METRIC_MINKOWSKI:
        return (float)pow(u.s, 1.0 / p);
    case UMAPC_METRIC_BRAYCURTIS:
        return u.t > 0.0 ? (float)(u.s / u.t) : 0.0f;
    case UMAPC_METRIC_HAMMING:
        return (float)((double)u.differ / n);
    case UMAPC_METRIC_JACCARD: {
        size_t either = u.tt + u.tf + u.ft;
        return either ? (float)((double)(either - u.tt) / (double)either) : 0.0f;
    }
    case UMAPC_METRIC_JENSEN_SHANNON:
    case UMAPC_METRIC_SYMMETRIC_KL:
        return merge_divergence(kind == UMAPC_METRIC_SYMMETRIC_KL, a, b, ra->terms[2 * i],
                                rb->terms[2 * j], u.len);
    default: /* the binary family */
        return metric_binary_from_counts(kind, (double)u.tt, (double)u.tf, (double)u.ft, n);
    }
}

/* The dense wasserstein_1d's sum of |CDF difference|^p over every coordinate: between two
 * coordinates stored in either row the difference is constant, so each stored coordinate's
 * difference counts once per coordinate up to the next (the last up to dim), as pynndescent's
 * sparse form counts them. */
static float merge_wasserstein(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j,
                               row_view a, row_view b) {
    double p = ra->plan.metric.p, sa = ra->terms[2 * i], sb = rb->terms[2 * j];
    double ca = 0.0, cb = 0.0, delta = 0.0, s = 0.0;
    size_t x = 0, y = 0, at = 0;
    while (x < a.nnz || y < b.nnz) {
        size_t ia = x < a.nnz ? (size_t)a.idx[x] : SIZE_MAX;
        size_t ib = y < b.nnz ? (size_t)b.idx[y] : SIZE_MAX;
        size_t next = ia < ib ? ia : ib;
        s += delta * (double)(next - at);
        if (ia == next) {
            ca += a.val[x++] / sa;
        }
        if (ib == next) {
            cb += b.val[y++] / sb;
        }
        delta = pow(fabs(ca - cb), p);
        at = next;
    }
    s += delta * (double)(ra->dim - at);
    return (float)pow(s, 1.0 / p);
}

/* umap-learn's sparse ll_dirichlet: log_beta over the coordinates both rows store, the rest from
 * the rows' prepared sums. */
static float merge_ll_dirichlet(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j,
                                row_view a, row_view b) {
    double log_b = 0.0;
    size_t x = 0, y = 0;
    while (x < a.nnz && y < b.nnz) {
        if (a.idx[x] == b.idx[y]) {
            log_b += metric_log_beta(a.val[x++], b.val[y++]);
        } else if (a.idx[x] < b.idx[y]) {
            x++;
        } else {
            y++;
        }
    }
    int equal = a.nnz == b.nnz && memcmp(a.idx, b.idx, a.nnz * sizeof *a.idx) == 0 &&
                memcmp(a.val, b.val, a.nnz * sizeof *a.val) == 0;
    return metric_ll_dirichlet_from_sums(ra->terms[2 * i], rb->terms[2 * j], log_b,
                                         ra->terms[2 * i + 1], rb->terms[2 * j + 1], equal);
}

float sparse_rows_surrogate(const sparse_rows *ra, size_t i, const sparse_rows *rb, size_t j) {
    row_view a = row_of(ra, i), b = row_of(rb, j);
    switch (ra->plan.metric.kind) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
        return (float)merge_sqdiff(a, b);
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_HELLINGER:
        return one_minus_dot(ra, i, rb, j, a, b);
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
        return (float)-merge_dot(a, b);
    case UMAPC_METRIC_CORRELATION:
        return correlation(ra, i, rb, j, a, b);
    case UMAPC_METRIC_WASSERSTEIN_1D:
        return merge_wasserstein(ra, i, rb, j, a, b);
    case UMAPC_METRIC_LL_DIRICHLET:
        return merge_ll_dirichlet(ra, i, rb, j, a, b);
    default:
        return from_union(ra, i, rb, j, a, b);
    }
}

/* ---- probes -----------------------------------------------------------------------------------
 */

typedef enum { PROBE_DOT, PROBE_SQDIFF, PROBE_ABSDIFF, PROBE_MERGE } probe_sum;

static probe_sum probe_sum_of(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_HELLINGER:
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
    case UMAPC_METRIC_CORRELATION:
        return PROBE_DOT;
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_SQEUCLIDEAN:
        return PROBE_SQDIFF;
    case UMAPC_METRIC_MANHATTAN:
        return PROBE_ABSDIFF;
    default:
        return PROBE_MERGE;
    }
}

float *sparse_probe_buffer(const sparse_rows *r, int *failed) {
    *failed = 0;
    if (probe_sum_of(r->plan.metric.kind) == PROBE_MERGE || r->dim > SPARSE_PROBE_MAX_DIM) {
        return NULL;
    }
    float *buf = calloc(r->dim > 0 ? r->dim : 1, sizeof *buf);
    *failed = buf == NULL;
    return buf;
}

/* Four sums in a fixed order: one would be a chain of dependent adds. */
static double probe_own(probe_sum sum, row_view a) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t e = 0; e < a.nnz; e++) {
        double x = a.val[e];
        s[e & 3] += sum == PROBE_SQDIFF ? x * x : fabs(x);
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

void sparse_probe_load(sparse_probe *p, const sparse_rows *r, size_t i, float *buf) {
    p->rows = r;
    p->row = i;
    p->dense = buf;
    p->own = 0.0;
    if (buf == NULL) {
        return;
    }
    row_view a = row_of(r, i);
    for (size_t e = 0; e < a.nnz; e++) {
        buf[a.idx[e]] = a.val[e];
    }
    probe_sum sum = probe_sum_of(r->plan.metric.kind);
    if (sum != PROBE_DOT) {
        p->own = probe_own(sum, a);
    }
}

void sparse_probe_unload(sparse_probe *p) {
    if (p->dense == NULL) {
        return;
    }
    row_view a = row_of(p->rows, p->row);
    for (size_t e = 0; e < a.nnz; e++) {
        p->dense[a.idx[e]] = 0.0f;
    }
}

static double gather_dot(const float *dense, row_view b) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t e = 0; e < b.nnz; e++) {
        s[e & 3] += (double)dense[b.idx[e]] * b.val[e];
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* Over b's entries: the pair's term minus the probe's alone, which own already counts. */
static double gather_diff(probe_sum sum, const float *dense, row_view b) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t e = 0; e < b.nnz; e++) {
        double x = dense[b.idx[e]], y = b.val[e];
        s[e & 3] += sum == PROBE_SQDIFF ? (x - y) * (x - y) - x * x : fabs(x - y) - fabs(x);
    }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* As one_minus_dot: the rare near pairs go to the merge, which keeps their digits. */
static float probe_one_minus_dot(const sparse_probe *p, const sparse_rows *rb, size_t j,
                                 row_view b) {
    const sparse_rows *ra = p->rows;
    if (UMAPC_UNLIKELY(ra->zero[p->row] | rb->zero[j])) {
        return (ra->zero[p->row] & rb->zero[j]) ? 0.0f : 1.0f;
    }
    float s = (float)(1.0 - gather_dot(p->dense, b));
    if (UMAPC_UNLIKELY(s < METRIC_NEAR_PAIR)) {
        s = (float)(0.5 * merge_sqdiff(row_of(ra, p->row), b));
    }
    return s;
}

/* Correlation's centred dot: sum (a - ma)(b - mb) over all dim coordinates = a.b - dim ma mb. */
static float probe_correlation(const sparse_probe *p, const sparse_rows *rb, size_t j, row_view b) {
    const sparse_rows *ra = p->rows;
    double ma = ra->terms[2 * p->row], na = ra->terms[2 * p->row + 1];
    double mb = rb->terms[2 * j], nb = rb->terms[2 * j + 1];
    if (na == 0.0 || nb == 0.0) {
        return (na == 0.0 && nb == 0.0) ? 0.0f : 1.0f;
    }
    double centred = gather_dot(p->dense, b) - (double)ra->dim * ma * mb;
    return clamp_unit2(1.0 - centred / (na * nb));
}

float sparse_probe_surrogate(const sparse_probe *p, const sparse_rows *b, size_t j) {
    if (p->dense == NULL) {
        return sparse_rows_surrogate(p->rows, p->row, b, j);
    }
    row_view v = row_of(b, j);
    switch (p->rows->plan.metric.kind) {
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_HELLINGER:
        return probe_one_minus_dot(p, b, j, v);
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
        return (float)-gather_dot(p->dense, v);
    case UMAPC_METRIC_CORRELATION:
        return probe_correlation(p, b, j, v);
    default: { /* euclidean, sqeuclidean, manhattan */
        double s = p->own + gather_diff(probe_sum_of(p->rows->plan.metric.kind), p->dense, v);
        return s > 0.0 ? (float)s : 0.0f;
    }
    }
}

void sparse_rows_project(const sparse_rows *r, size_t i, const uint64_t *signs, size_t pdim,
                         float *out) {
    row_view v = row_of(r, i);
    memset(out, 0, pdim * sizeof *out);
    if (signs == NULL) {
        for (size_t e = 0; e < v.nnz; e++) {
            out[v.idx[e]] = v.val[e];
        }
        return;
    }
    for (size_t e = 0; e < v.nnz; e++) {
        uint64_t bits = signs[v.idx[e]];
        float x = v.val[e];
        for (size_t c = 0; c < pdim; c++) {
            out[c] += ((bits >> c) & 1) ? x : -x;
        }
    }
}

/* ---- public distances -------------------------------------------------------------------------
 */

/* One row of x as a matrix of its own (its indptr two entries of the caller's). */
static umapc_csr single_row(const umapc_csr *x, size_t i, int64_t *indptr) {
    indptr[0] = 0;
    indptr[1] = x->indptr[i + 1] - x->indptr[i];
    return (umapc_csr){1, x->n_cols, indptr, x->indices + x->indptr[i], x->data + x->indptr[i]};
}

float umapc_sparse_distance(const umapc_metric *metric, const umapc_csr *x, size_t i,
                            const umapc_csr *y, size_t j) {
    int64_t pa[2], pb[2];
    umapc_csr a = single_row(x, i, pa), b = single_row(y, j, pb);
    sparse_rows ra, rb;
    float d = NAN;
    if (sparse_rows_init(&ra, metric, &a, 1) == 0 && sparse_rows_init(&rb, metric, &b, 1) == 0) {
        d = sparse_rows_distance(&ra, 0, &rb, 0);
    }
    sparse_rows_free(&ra);
    sparse_rows_free(&rb);
    return d;
}

umapc_status umapc_sparse_pairwise_distances(const umapc_metric *metric, const umapc_csr *x,
                                             const umapc_csr *y, float *out,
                                             const umapc_run_options *opts, umapc_error *err) {
    umapc_status st = umapc_sparse_check_data(metric, x, err);
    if (st == UMAPC_OK && y != x) {
        st = umapc_sparse_check_data(metric, y, err);
    }
    if (st != UMAPC_OK) {
        return st;
    }
    if (x->n_cols != y->n_cols) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "sparse pairwise distances: %zu columns against %zu", x->n_cols,
                          y->n_cols);
    }
    if (x->n_rows == 0 || y->n_rows == 0) {
        return UMAPC_OK;
    }
    if (out == NULL || umapc_mul_size(x->n_rows, y->n_rows) == SIZE_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "sparse pairwise distances: NULL out or sizes overflow");
    }
    int threads = umapc_resolve_threads(umapc_run_threads(opts));
    sparse_rows rx, ry;
    int failed = sparse_rows_init(&rx, metric, x, threads) != 0;
    failed |= sparse_rows_init(&ry, metric, y, threads) != 0;
    if (!failed) {
        size_t ny = y->n_rows;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
        for (size_t i = 0; i < x->n_rows; i++) {
            for (size_t j = 0; j < ny; j++) {
                out[i * ny + j] = sparse_rows_distance(&rx, i, &ry, j);
            }
        }
    }
    sparse_rows_free(&rx);
    sparse_rows_free(&ry);
    return failed ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY,
                               "sparse pairwise distances: no memory to prepare the rows")
                  : UMAPC_OK;
}
