/* densMAP's local radii. */
#include "densmap_internal.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The distance at which i lists j among its neighbours, or -1. */
static float listed_at(const umapc_idx *knn_indices, const float *knn_dists, size_t k, size_t i,
                       umapc_idx j) {
    for (size_t q = 0; q < k; q++) {
        if (knn_indices[i * k + q] == j) {
            return knn_dists[i * k + q];
        }
    }
    return -1.0f;
}

umapc_status umapc_dens_radii(const umapc_graph *graph, float min_weight,
                              const umapc_idx *knn_indices, const float *knn_dists, size_t k,
                              int squared, const umapc_run_options *opts, float *radii,
                              umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (knn_indices == NULL || knn_dists == NULL || radii == NULL || k == 0 ||
        graph->n_rows != graph->n_cols) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "dens_radii: need a square graph, its k-NN lists and an output");
    }
    int n_threads = umapc_resolve_threads(umapc_run_threads(opts));
    (void)n_threads; /* only read by OpenMP pragmas */
#pragma omp parallel for schedule(dynamic, 256) num_threads(n_threads)
    for (size_t i = 0; i < graph->n_rows; i++) {
        double num = 0.0, den = 0.0;
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            float w = graph->data[e];
            if (!(w >= min_weight) || !(w > 0.0f)) {
                continue;
            }
            umapc_idx j = graph->indices[e];
            float a = listed_at(knn_indices, knn_dists, k, i, j);
            float b = listed_at(knn_indices, knn_dists, k, (size_t)j, (umapc_idx)i);
            double d = a > b ? a : b;
            d = d > 0.0 ? d : 0.0;
            num += w * (squared ? d * d : d);
            den += w;
        }
        radii[i] = (float)log(1e-8 + (den > 0.0 ? num / den : 0.0));
    }
    return UMAPC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* inside the layout                                                                           */

void dens_free(dens_state *d) {
    free(d->R);
    free(d->re);
    free(d->phi_sum);
    memset(d, 0, sizeof *d);
}

int dens_prepare(dens_state *d, const umapc_graph *g, const umapc_layout_options *o,
                 int n_threads) {
    size_t n = g->n_rows ? g->n_rows : 1;
    memset(d, 0, sizeof *d);
    d->R = malloc(n * sizeof *d->R);
    d->re = malloc(n * sizeof *d->re);
    d->phi_sum = malloc(n * sizeof *d->phi_sum);
    if (d->R == NULL || d->re == NULL || d->phi_sum == NULL) {
        dens_free(d);
        return -1;
    }
    umapc_error ignored;
    umapc_run_options run = {n_threads};
    if (umapc_dens_radii(g, 0.0f, o->dens_knn_indices, o->dens_knn_dists, o->dens_k, 1, &run, d->R,
                         &ignored) != UMAPC_OK) {
        dens_free(d);
        return -1;
    }
    double mean = 0.0, var = 0.0;
    for (size_t i = 0; i < g->n_rows; i++) {
        mean += d->R[i];
    }
    mean /= (double)g->n_rows;
    for (size_t i = 0; i < g->n_rows; i++) {
        var += (d->R[i] - mean) * (d->R[i] - mean);
    }
    double sd = sqrt(var / (double)g->n_rows);
    for (size_t i = 0; i < g->n_rows; i++) {
        d->R[i] = (float)(sd > 0.0 ? (d->R[i] - mean) / sd : 0.0);
    }
    /* umap-learn: half the sum over points of their summed memberships, each edge counted at both
     * ends, i.e. the sum over the graph's entries */
    for (size_t e = 0; e < g->nnz; e++) {
        d->mu_tot += g->data[e];
    }
    d->lambda = o->dens_lambda;
    d->var_shift = o->dens_var_shift;
    d->view = (layout_dens){.R = d->R, .re = d->re, .phi_sum = d->phi_sum, .mu = g->data};
    return 0;
}

void dens_epoch(dens_state *d, const umapc_graph *g, const float *pos, size_t dim, float a, float b,
                int n_threads) {
    size_t n = g->n_rows;
#pragma omp parallel for schedule(dynamic, 256) num_threads(n_threads)
    for (size_t i = 0; i < n; i++) {
        /* every edge appears at both its ends in umap-learn's sums; the graph is symmetric, so a
         * row holds them all and the factor 2 cancels in the ratio */
        double re = 0.0, phi_sum = 0.0;
        for (int64_t e = g->indptr[i]; e < g->indptr[i + 1]; e++) {
            const float *x = pos + i * dim, *y = pos + (size_t)g->indices[e] * dim;
            double d2 = 0.0;
            for (size_t c = 0; c < dim; c++) {
                d2 += (double)(x[c] - y[c]) * (x[c] - y[c]);
            }
            double phi = 1.0 / (1.0 + a * pow(d2, b));
            re += phi * d2;
            phi_sum += phi;
        }
        d->re[i] = (float)log(1e-8 + (phi_sum > 0.0 ? re / phi_sum : 0.0));
        d->phi_sum[i] = (float)(2.0 * phi_sum);
    }
    double mean = 0.0, var = 0.0, cov = 0.0;
    for (size_t i = 0; i < n; i++) {
        mean += d->re[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        var += (d->re[i] - mean) * (d->re[i] - mean);
        cov += (double)d->re[i] * d->R[i];
    }
    d->view.re_std = (float)sqrt(var / (double)n + d->var_shift);
    d->view.re_mean = (float)mean;
    d->view.re_cov = (float)(cov / (double)(n > 1 ? n - 1 : 1));
    d->view.lambda_mu_tot_n = (float)(d->lambda * d->mu_tot / (double)n);
}
