/* The fuzzy simplicial set, following umap-learn's smooth_knn_dist, compute_membership_strengths
 * and fuzzy_simplicial_set step by step (including its float32/float64 mix) so that graphs agree
 * to rounding. */
#include "graph_internal.h"
#include "umapc/fuzzy.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define SMOOTH_K_TOLERANCE 1e-5
#define MIN_K_DIST_SCALE   1e-3

void umapc_fuzzy_options_init(umapc_fuzzy_options *opts) {
    opts->local_connectivity = 1.0;
    opts->set_op_mix_ratio = 1.0;
    opts->apply_set_operations = 1;
    opts->bipartite = -1;
    opts->bandwidth = 1.0;
    opts->n_iter = 64;
    opts->n_threads = 0;
}

static int present(const umapc_idx *knn_indices, size_t at) {
    return knn_indices == NULL || knn_indices[at] >= 0;
}

/* Mean of the distances of all present neighbours, or 0 when there are none. */
static double mean_present(const umapc_idx *idx, const float *dists, size_t count) {
    double sum = 0.0;
    size_t n = 0;
    for (size_t j = 0; j < count; j++) {
        if (present(idx, j)) {
            sum += dists[j];
            n++;
        }
    }
    return n ? sum / (double)n : 0.0;
}

static float row_rho(const umapc_idx *idx, const float *dists, size_t k, double lc,
                     float *scratch) {
    size_t n_nonzero = 0;
    for (size_t j = 0; j < k; j++) {
        if (present(idx, j) && dists[j] > 0.0f) {
            scratch[n_nonzero++] = dists[j];
        }
    }
    if ((double)n_nonzero >= lc) {
        size_t index = (size_t)floor(lc);
        double interpolation = lc - (double)index;
        if (index > 0) {
            float rho = scratch[index - 1];
            if (interpolation > SMOOTH_K_TOLERANCE) {
                float step = scratch[index] - scratch[index - 1];
                rho = (float)((double)rho + interpolation * (double)step);
            }
            return rho;
        }
        return n_nonzero > 0 ? (float)(interpolation * (double)scratch[0]) : 0.0f;
    }
    float rho = 0.0f;
    for (size_t j = 0; j < n_nonzero; j++) {
        rho = scratch[j] > rho ? scratch[j] : rho;
    }
    return rho;
}

/* Binary search for sigma; the first column is skipped as in umap-learn (it is the point itself
 * in a k-NN graph). */
static double row_sigma(const umapc_idx *idx, const float *dists, size_t k, float rho,
                        double target, int n_iter) {
    double lo = 0.0, hi = DBL_MAX, mid = 1.0;
    for (int it = 0; it < n_iter; it++) {
        double psum = 0.0;
        for (size_t j = 1; j < k; j++) {
            if (!present(idx, j)) {
                continue;
            }
            float d = dists[j] - rho;
            psum += d > 0.0f ? exp(-((double)d / mid)) : 1.0;
        }
        if (fabs(psum - target) < SMOOTH_K_TOLERANCE) {
            break;
        }
        if (psum > target) {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = hi >= DBL_MAX ? mid * 2.0 : (lo + hi) / 2.0;
        }
    }
    return mid;
}

static double global_mean(const umapc_idx *knn_indices, const float *knn_dists, size_t n_rows,
                          size_t k, int n_threads, double *row_sums) {
    size_t *row_counts = malloc((n_rows ? n_rows : 1) * sizeof *row_counts);
    if (row_counts == NULL) {
        return NAN; /* not -1: metrics with negative distances (inner_product) have such means */
    }
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (size_t i = 0; i < n_rows; i++) {
        double s = 0.0;
        size_t c = 0;
        for (size_t j = 0; j < k; j++) {
            if (present(knn_indices, i * k + j)) {
                s += knn_dists[i * k + j];
                c++;
            }
        }
        row_sums[i] = s;
        row_counts[i] = c;
    }
    size_t count = 0;
    for (size_t i = 0; i < n_rows; i++) {
        count += row_counts[i];
    }
    free(row_counts);
    double total = umapc_sum_fixed(row_sums, n_rows, n_threads);
    return count ? total / (double)count : 0.0;
}

umapc_status umapc_smooth_knn_dist(const umapc_idx *knn_indices, const float *knn_dists,
                                   size_t n_rows, size_t k, const umapc_fuzzy_options *opts,
                                   float *sigmas, float *rhos, umapc_error *err) {
    umapc_fuzzy_options defaults;
    if (opts == NULL) {
        umapc_fuzzy_options_init(&defaults);
        opts = &defaults;
    }
    if (knn_dists == NULL || sigmas == NULL || rhos == NULL || k == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "smooth_knn_dist: distances, sigmas and rhos are required and k > 0");
    }
    if (!(opts->local_connectivity >= 0.0) || !(opts->bandwidth > 0.0) || opts->n_iter < 1) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "local_connectivity must be >= 0, bandwidth > 0 and n_iter >= 1");
    }
    int n_threads = umapc_resolve_threads(opts->n_threads);
    double *row_sums = malloc((n_rows ? n_rows : 1) * sizeof *row_sums);
    float *scratch = malloc(umapc_mul_size((size_t)n_threads, k) * sizeof *scratch);
    double mean_all =
        row_sums ? global_mean(knn_indices, knn_dists, n_rows, k, n_threads, row_sums) : NAN;
    if (row_sums == NULL || scratch == NULL || isnan(mean_all)) {
        free(row_sums);
        free(scratch);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "smooth_knn_dist: out of memory");
    }
    double target = log2((double)k) * opts->bandwidth;
    double lc = opts->local_connectivity;
#pragma omp parallel num_threads(n_threads)
    {
        float *mine = scratch + (size_t)umapc_thread_id() * k;
#pragma omp for schedule(dynamic, 256)
        for (size_t i = 0; i < n_rows; i++) {
            const umapc_idx *idx = knn_indices ? knn_indices + i * k : NULL;
            const float *d = knn_dists + i * k;
            float rho = row_rho(idx, d, k, lc, mine);
            float sigma = (float)row_sigma(idx, d, k, rho, target, opts->n_iter);
            double mean = rho > 0.0f ? mean_present(idx, d, k) : mean_all;
            if ((double)sigma < MIN_K_DIST_SCALE * mean) {
                sigma = (float)(MIN_K_DIST_SCALE * mean);
            }
            rhos[i] = rho;
            sigmas[i] = sigma;
        }
    }
    free(row_sums);
    free(scratch);
    return UMAPC_OK;
}

static float membership(size_t row, umapc_idx col, float dist, float rho, float sigma,
                        int bipartite) {
    if (!bipartite && (size_t)col == row) {
        return 0.0f;
    }
    if (dist - rho <= 0.0f || sigma == 0.0f) {
        return 1.0f;
    }
    return expf(-((dist - rho) / sigma));
}

typedef struct entry {
    umapc_idx col;
    float val;
} entry;

/* Sorts a row's entries by column, sums duplicates and drops zeros; returns the new length. */
static size_t tidy_row(entry *row, size_t len) {
    for (size_t a = 1; a < len; a++) {
        entry e = row[a];
        size_t b = a;
        while (b > 0 && row[b - 1].col > e.col) {
            row[b] = row[b - 1];
            b--;
        }
        row[b] = e;
    }
    size_t out = 0;
    for (size_t a = 0; a < len; a++) {
        if (out > 0 && row[out - 1].col == row[a].col) {
            row[out - 1].val += row[a].val;
        } else {
            row[out++] = row[a];
        }
    }
    size_t kept = 0;
    for (size_t a = 0; a < out; a++) {
        if (row[a].val != 0.0f) {
            row[kept++] = row[a];
        }
    }
    return kept;
}

static umapc_status directed_graph(const umapc_idx *knn_indices, const float *knn_dists,
                                   size_t n_rows, size_t k, size_t n_vertices, const float *sigmas,
                                   const float *rhos, int bipartite, int n_threads,
                                   umapc_graph *out, umapc_error *err) {
    entry *entries = malloc(umapc_mul_size(n_rows ? n_rows : 1, k) * sizeof *entries);
    size_t *lens = malloc((n_rows ? n_rows : 1) * sizeof *lens);
    if (entries == NULL || lens == NULL) {
        free(entries);
        free(lens);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "fuzzy_simplicial_set: out of memory");
    }
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 256) num_threads(n_threads) reduction(| : bad)
    for (size_t i = 0; i < n_rows; i++) {
        entry *row = entries + i * k;
        size_t len = 0;
        for (size_t j = 0; j < k; j++) {
            umapc_idx c = knn_indices[i * k + j];
            if (c == -1) {
                continue;
            }
            if (c < 0 || (size_t)c >= n_vertices) {
                bad = 1;
                continue;
            }
            row[len].col = c;
            row[len].val = membership(i, c, knn_dists[i * k + j], rhos[i], sigmas[i], bipartite);
            len++;
        }
        lens[i] = tidy_row(row, len);
    }
    size_t nnz = 0;
    for (size_t i = 0; i < n_rows && !bad; i++) {
        nnz += lens[i];
    }
    if (bad || umapc_graph_alloc(out, n_rows, n_vertices, nnz) != 0) {
        free(entries);
        free(lens);
        return bad ? umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                                "knn_indices must be -1 or in [0, %zu)", n_vertices)
                   : umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY,
                                "fuzzy_simplicial_set: out of memory");
    }
    for (size_t i = 0; i < n_rows; i++) {
        out->indptr[i + 1] = out->indptr[i] + (int64_t)lens[i];
    }
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (size_t i = 0; i < n_rows; i++) {
        int64_t at = out->indptr[i];
        for (size_t a = 0; a < lens[i]; a++) {
            out->indices[at + (int64_t)a] = entries[i * k + a].col;
            out->data[at + (int64_t)a] = entries[i * k + a].val;
        }
    }
    free(entries);
    free(lens);
    return UMAPC_OK;
}

/* How the entries of two sorted rows at one column combine: the value from the left (has_l) and
 * right (has_r) sides, or *keep = 0 to leave the entry out. */
typedef float (*merge_fn)(const void *rule, float l, int has_l, float r, int has_r, int *keep);

/* Row i of the merge of a and b (both with sorted rows); writes when cols is not NULL, returns the
 * row's length. */
static size_t merge_row(const umapc_graph *a, const umapc_graph *b, size_t i, merge_fn fn,
                        const void *rule, umapc_idx *cols, float *vals) {
    int64_t p = a->indptr[i], p_end = a->indptr[i + 1];
    int64_t q = b->indptr[i], q_end = b->indptr[i + 1];
    size_t n = 0;
    while (p < p_end || q < q_end) {
        umapc_idx ca = p < p_end ? a->indices[p] : INT32_MAX;
        umapc_idx cb = q < q_end ? b->indices[q] : INT32_MAX;
        umapc_idx c = ca < cb ? ca : cb;
        int has_l = ca == c, has_r = cb == c, keep = 1;
        float vl = has_l ? a->data[p++] : 0.0f, vr = has_r ? b->data[q++] : 0.0f;
        float v = fn(rule, vl, has_l, vr, has_r, &keep);
        if (keep) {
            if (cols != NULL) {
                cols[n] = c;
                vals[n] = v;
            }
            n++;
        }
    }
    return n;
}

/* The n x n graph whose row i merges row i of a and of b: the lengths first, then the entries. */
static umapc_status merge_graphs(const umapc_graph *a, const umapc_graph *b, merge_fn fn,
                                 const void *rule, int n_threads, umapc_graph *out,
                                 umapc_error *err) {
    size_t n = a->n_rows;
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (lens == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "fuzzy set: out of memory");
    }
#pragma omp parallel for schedule(dynamic, 512) num_threads(n_threads)
    for (size_t i = 0; i < n; i++) {
        lens[i] = merge_row(a, b, i, fn, rule, NULL, NULL);
    }
    size_t nnz = 0;
    for (size_t i = 0; i < n; i++) {
        nnz += lens[i];
    }
    if (umapc_graph_alloc(out, n, n, nnz) != 0) {
        free(lens);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "fuzzy set: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        out->indptr[i + 1] = out->indptr[i] + (int64_t)lens[i];
    }
    free(lens);
#pragma omp parallel for schedule(dynamic, 512) num_threads(n_threads)
    for (size_t i = 0; i < n; i++) {
        merge_row(a, b, i, fn, rule, out->indices + out->indptr[i], out->data + out->indptr[i]);
    }
    return UMAPC_OK;
}

/* mix (P + P^T - P.*P^T) + (1 - mix) P.*P^T, zeros left out. */
static float symmetric_entry(const void *rule, float p, int has_p, float pt, int has_pt,
                             int *keep) {
    (void)has_p;
    (void)has_pt;
    float mix = *(const float *)rule, prod = p * pt;
    float v = mix * ((p + pt) - prod) + (1.0f - mix) * prod;
    *keep = v != 0.0f;
    return v;
}

static umapc_status symmetrise(const umapc_graph *p, float mix, int n_threads, umapc_graph *out,
                               umapc_error *err) {
    umapc_graph pt;
    if (umapc_graph_transpose(p, &pt, NULL) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "fuzzy_simplicial_set: out of memory");
    }
    umapc_status st = merge_graphs(p, &pt, symmetric_entry, &mix, n_threads, out, err);
    umapc_graph_free(&pt);
    return st;
}

static umapc_status check_fuzzy_args(const umapc_idx *knn_indices, const float *knn_dists,
                                     size_t n_rows, size_t k, size_t n_vertices,
                                     const umapc_fuzzy_options *opts, umapc_graph *graph,
                                     umapc_error *err) {
    if (knn_indices == NULL || knn_dists == NULL || graph == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "fuzzy_simplicial_set: knn arrays and graph are required");
    }
    if (k == 0 || n_vertices == 0 || n_vertices > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "fuzzy_simplicial_set: need k >= 1 and 1 <= n_vertices < 2^31");
    }
    if (opts->apply_set_operations && n_rows != n_vertices) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "set operations need a square graph: %zu rows, %zu vertices", n_rows,
                          n_vertices);
    }
    if (!(opts->set_op_mix_ratio >= 0.0 && opts->set_op_mix_ratio <= 1.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "set_op_mix_ratio must be in [0, 1]");
    }
    return UMAPC_OK;
}

umapc_status umapc_fuzzy_simplicial_set(const umapc_idx *knn_indices, const float *knn_dists,
                                        size_t n_rows, size_t k, size_t n_vertices,
                                        const umapc_fuzzy_options *opts,
                                        const umapc_progress *progress, umapc_graph *graph,
                                        float *sigmas, float *rhos, umapc_error *err) {
    umapc_fuzzy_options defaults;
    if (opts == NULL) {
        umapc_fuzzy_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status st =
        check_fuzzy_args(knn_indices, knn_dists, n_rows, k, n_vertices, opts, graph, err);
    if (st) {
        return st;
    }
    memset(graph, 0, sizeof *graph);
    int n_threads = umapc_resolve_threads(opts->n_threads);
    int bipartite = opts->bipartite >= 0 ? opts->bipartite : !opts->apply_set_operations;
    float *own_sigmas = sigmas ? NULL : malloc((n_rows ? n_rows : 1) * sizeof *own_sigmas);
    float *own_rhos = rhos ? NULL : malloc((n_rows ? n_rows : 1) * sizeof *own_rhos);
    float *s = sigmas ? sigmas : own_sigmas, *r = rhos ? rhos : own_rhos;
    if (s == NULL || r == NULL) {
        free(own_sigmas);
        free(own_rhos);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "fuzzy_simplicial_set: out of memory");
    }
    umapc_graph directed = {0};
    st = umapc_smooth_knn_dist(knn_indices, knn_dists, n_rows, k, opts, s, r, err);
    if (!st && umapc_progress_report(progress, "fuzzy simplicial set", 1, 3)) {
        st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
    }
    if (!st) {
        st = directed_graph(knn_indices, knn_dists, n_rows, k, n_vertices, s, r, bipartite,
                            n_threads, &directed, err);
    }
    if (!st && umapc_progress_report(progress, "fuzzy simplicial set", 2, 3)) {
        st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
    }
    if (!st && opts->apply_set_operations) {
        st = symmetrise(&directed, (float)opts->set_op_mix_ratio, n_threads, graph, err);
        umapc_graph_free(&directed);
    } else if (!st) {
        *graph = directed;
        memset(&directed, 0, sizeof directed);
    }
    free(own_sigmas);
    free(own_rhos);
    if (!st && umapc_progress_report(progress, "fuzzy simplicial set", 3, 3)) {
        umapc_graph_free(graph);
        st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
    }
    if (st) {
        umapc_graph_free(&directed);
    }
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* set operations of supervised UMAP                                                           */

static umapc_status check_square(const umapc_graph *graph, const char *what, umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (!st && graph->n_rows != graph->n_cols) {
        st = umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s: the graph must be square (%zu x %zu)",
                        what, graph->n_rows, graph->n_cols);
    }
    return st;
}

umapc_status umapc_fuzzy_categorical_intersection(umapc_graph *graph, const int64_t *labels,
                                                  double unknown_dist, double far_dist,
                                                  umapc_error *err) {
    umapc_status st = check_square(graph, "categorical_intersection", err);
    if (st) {
        return st;
    }
    if (labels == NULL || !(unknown_dist >= 0.0) || !(far_dist >= 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "categorical_intersection: need labels and distances >= 0");
    }
    /* umap-learn multiplies the float32 weights by these float64 factors */
    double unknown = exp(-unknown_dist), far = exp(-far_dist);
    for (size_t i = 0; i < graph->n_rows; i++) {
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            int64_t a = labels[i], b = labels[graph->indices[e]];
            if (a < 0 || b < 0) {
                graph->data[e] = (float)(graph->data[e] * unknown);
            } else if (a != b) {
                graph->data[e] = (float)(graph->data[e] * far);
            }
        }
    }
    return UMAPC_OK;
}

umapc_status umapc_fuzzy_metric_intersection(umapc_graph *graph, const umapc_metric *metric,
                                             const float *values, size_t dim, double scale,
                                             umapc_error *err) {
    umapc_status st = check_square(graph, "metric_intersection", err);
    if (!st && !(scale >= 0.0 && isfinite(scale))) {
        st = umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                        "metric_intersection: scale must be finite and >= 0, got %g", scale);
    }
    if (!st) {
        st = umapc_metric_check_data(metric, values, graph->n_rows, dim, err);
    }
    if (st) {
        return st;
    }
    for (size_t i = 0; i < graph->n_rows; i++) {
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            const float *other = values + (size_t)graph->indices[e] * dim;
            double d = umapc_distance(metric, values + i * dim, other, dim);
            graph->data[e] = (float)(graph->data[e] * exp(-(scale * d)));
        }
    }
    return UMAPC_OK;
}

/* umap-learn's reprocess_row: the exponent that brings the row's sum of p^e to log2(15), found
 * by bisection (doubling while unbounded), applied to the row. */
static void reprocess_row(float *p, size_t m) {
    const double target = log2(15.0);
    double lo = 0.0, hi = INFINITY, mid = 1.0;
    for (int it = 0; it < 32; it++) {
        double sum = 0.0;
        for (size_t j = 0; j < m; j++) {
            sum += pow(p[j], mid);
        }
        if (fabs(sum - target) < SMOOTH_K_TOLERANCE) {
            break;
        }
        if (sum < target) {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = isinf(hi) ? mid * 2.0 : (lo + hi) / 2.0;
        }
    }
    for (size_t j = 0; j < m; j++) {
        p[j] = (float)pow(p[j], mid);
    }
}

umapc_status umapc_fuzzy_reset_local_connectivity(const umapc_graph *graph, int reset_local_metric,
                                                  const umapc_run_options *opts, umapc_graph *out,
                                                  umapc_error *err) {
    umapc_status st = check_square(graph, "reset_local_connectivity", err);
    if (st) {
        return st;
    }
    umapc_graph scaled;
    if (umapc_graph_alloc(&scaled, graph->n_rows, graph->n_cols, graph->nnz) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "reset_local_connectivity: out of memory");
    }
    /* scikit-learn's normalize(norm="max"), explicit zeros dropped (the union keeps none) */
    size_t at = 0;
    for (size_t i = 0; i < graph->n_rows; i++) {
        float top = 0.0f;
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            top = graph->data[e] > top ? graph->data[e] : top;
        }
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            if (graph->data[e] > 0.0f) {
                scaled.indices[at] = graph->indices[e];
                scaled.data[at++] = graph->data[e] / top;
            }
        }
        scaled.indptr[i + 1] = (int64_t)at;
        if (reset_local_metric) {
            size_t row0 = (size_t)scaled.indptr[i];
            reprocess_row(scaled.data + row0, at - row0);
        }
    }
    scaled.nnz = at;
    st = symmetrise(&scaled, 1.0f, umapc_resolve_threads(umapc_run_threads(opts)), out, err);
    umapc_graph_free(&scaled);
    return st;
}

/* The smallest weight of a graph (of 1 - weight with complement), 0 when it has none. */
static float min_weight(const umapc_graph *g, int complement) {
    float m = INFINITY;
    for (size_t e = 0; e < g->nnz; e++) {
        float v = complement ? 1.0f - g->data[e] : g->data[e];
        m = v < m ? v : m;
    }
    return g->nnz ? m : 0.0f;
}

typedef struct mix_rule {
    umapc_set_op op;
    float left_min, right_min;
    double weight;
} mix_rule;

/* umap-learn's general_sset_intersection / _union for one entry of the union of the patterns:
 * absent sides count as their floor; the difference takes the right side's complement (its floor
 * stays the floor); an intersection entry with both sides at their floor keeps their sum. The
 * difference is taken on the left side's entries only. */
static float mix_entry(const mix_rule *r, float left, int has_left, float right, int has_right) {
    double l = has_left ? left : r->left_min;
    double rt = has_right ? (r->op == UMAPC_SET_DIFFERENCE ? 1.0 - right : right) : r->right_min;
    if (r->op == UMAPC_SET_UNION) {
        return (float)(l + rt - l * rt);
    }
    if (!(l > r->left_min || rt > r->right_min)) {
        /* umap-learn's result starts as left + right (left alone for the difference) */
        float kept = has_left ? left : 0.0f;
        return r->op == UMAPC_SET_DIFFERENCE ? kept : kept + (has_right ? right : 0.0f);
    }
    if (r->weight < 0.5) {
        return (float)(l * pow(rt, r->weight / (1.0 - r->weight)));
    }
    return (float)(pow(l, (1.0 - r->weight) / r->weight) * rt);
}

/* The floors of absent entries, from the smallest weights (umap-learn's rules per operation). */
static void mix_floors(mix_rule *r, const umapc_graph *left, const umapc_graph *right) {
    float lm = min_weight(left, 0) / 2.0f;
    float rm = min_weight(right, r->op == UMAPC_SET_DIFFERENCE) / 2.0f;
    r->left_min = lm > 1e-8f ? lm : 1e-8f;
    r->right_min = rm > 1e-8f ? rm : 1e-8f;
    if (r->op != UMAPC_SET_UNION) {
        r->right_min = r->right_min < 1e-4f ? r->right_min : 1e-4f;
    }
}
/* merge_fn of umapc_fuzzy_combine: the difference keeps the left side's entries only. */
static float combined_entry(const void *rule, float l, int has_l, float r, int has_r, int *keep) {
    const mix_rule *m = rule;
    *keep = has_l || m->op != UMAPC_SET_DIFFERENCE;
    return mix_entry(m, l, has_l, r, has_r);
}

umapc_status umapc_fuzzy_combine(const umapc_graph *left, const umapc_graph *right, umapc_set_op op,
                                 double weight, const umapc_run_options *opts, umapc_graph *out,
                                 umapc_error *err) {
    umapc_status st = check_square(left, "fuzzy_combine", err);
    if (!st) {
        st = check_square(right, "fuzzy_combine", err);
    }
    if (st) {
        return st;
    }
    if (left->n_rows != right->n_rows || !(weight >= 0.0 && weight <= 1.0) ||
        (op != UMAPC_SET_INTERSECTION && op != UMAPC_SET_UNION && op != UMAPC_SET_DIFFERENCE)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "fuzzy_combine: need graphs of the same size, 0 <= weight <= 1 and a "
                          "known operation");
    }
    mix_rule rule = {.op = op, .weight = weight};
    mix_floors(&rule, left, right);
    return merge_graphs(left, right, combined_entry, &rule,
                        umapc_resolve_threads(umapc_run_threads(opts)), out, err);
}
