/* The fuzzy simplicial set against a dense reference computed here from its definition. */
#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 300, K = 10, DIM = 3 };

/* Brute-force k-NN (self first) of random points in the unit cube. */
static void make_knn(umapc_idx *idx, float *dist, uint64_t seed) {
    static float pts[N * DIM];
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (int i = 0; i < N * DIM; i++) {
        pts[i] = (float)umapc_rng_uniform(&rng);
    }
    for (int i = 0; i < N; i++) {
        float d[N];
        int order[N];
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int c = 0; c < DIM; c++) {
                float t = pts[i * DIM + c] - pts[j * DIM + c];
                s += t * t;
            }
            d[j] = sqrtf(s);
            order[j] = j;
        }
        for (int a = 0; a < K; a++) { /* partial selection sort: K smallest in order */
            int best = a;
            for (int b = a + 1; b < N; b++) {
                if (d[order[b]] < d[order[best]] ||
                    (d[order[b]] == d[order[best]] && order[b] < order[best])) {
                    best = b;
                }
            }
            int t = order[a];
            order[a] = order[best];
            order[best] = t;
            idx[i * K + a] = order[a];
            dist[i * K + a] = d[order[a]];
        }
    }
}

static float dense_at(const umapc_graph *g, int r, int c) {
    for (int64_t e = g->indptr[r]; e < g->indptr[r + 1]; e++) {
        if (g->indices[e] == c) {
            return g->data[e];
        }
    }
    return 0.0f;
}

static void test_sigma_rho(const umapc_idx *idx, const float *dist) {
    float sigmas[N], rhos[N];
    CHECK_OK(umapc_smooth_knn_dist(idx, dist, N, K, NULL, sigmas, rhos, &ce_));
    double target = log2((double)K);
    for (int i = 0; i < N; i++) {
        CHECK(rhos[i] == dist[i * K + 1]); /* local_connectivity 1: first nonzero distance */
        double s = 0.0;
        for (int j = 1; j < K; j++) {
            double d = dist[i * K + j] - rhos[i];
            s += d > 0.0 ? exp(-d / sigmas[i]) : 1.0;
        }
        CHECK_CLOSE(s, target, 1e-4, 1e-4);
    }
}

static void test_symmetrised(const umapc_idx *idx, const float *dist, double mix) {
    float sigmas[N], rhos[N];
    umapc_fuzzy_options o;
    umapc_fuzzy_options_init(&o);
    o.set_op_mix_ratio = mix;
    o.n_threads = 2;
    umapc_graph g = {0};
    CHECK_OK(umapc_fuzzy_simplicial_set(idx, dist, N, K, N, &o, NULL, &g, sigmas, rhos, &ce_));
    CHECK_OK(umapc_graph_validate(&g, &ce_));
    static float p[N][N];
    memset(p, 0, sizeof p);
    for (int i = 0; i < N; i++) {
        for (int j = 1; j < K; j++) {
            float d = dist[i * K + j] - rhos[i];
            p[i][idx[i * K + j]] = d <= 0.0f ? 1.0f : expf(-(d / sigmas[i]));
        }
    }
    int zeros = 0;
    for (int r = 0; r < N; r++) {
        for (int64_t e = g.indptr[r]; e < g.indptr[r + 1]; e++) {
            zeros += g.data[e] == 0.0f;
        }
        for (int c = 0; c < N; c++) {
            double a = p[r][c], b = p[c][r];
            double want = mix * (a + b - a * b) + (1.0 - mix) * a * b;
            CHECK_CLOSE(dense_at(&g, r, c), want, 1e-6, 1e-7);
        }
    }
    CHECK(zeros == 0);
    umapc_graph_free(&g);
}

static void test_directed_and_missing(const umapc_idx *idx, const float *dist) {
    static umapc_idx idx2[N * K];
    memcpy(idx2, idx, sizeof idx2);
    idx2[5 * K + 3] = -1; /* a missing neighbour is skipped */
    umapc_fuzzy_options o;
    umapc_fuzzy_options_init(&o);
    o.apply_set_operations = 0;
    o.local_connectivity = 0.0; /* what transform passes */
    umapc_graph g = {0};
    CHECK_OK(umapc_fuzzy_simplicial_set(idx2, dist, N, K, N, &o, NULL, &g, NULL, NULL, &ce_));
    CHECK(g.indptr[6] - g.indptr[5] == K - 1);
    /* bipartite: column i of row i is another point set's i and keeps its weight (1 at d = 0) */
    CHECK(dense_at(&g, 0, 0) == 1.0f);
    umapc_graph_free(&g);
    idx2[0] = N; /* out of range */
    umapc_error err = {0};
    CHECK(umapc_fuzzy_simplicial_set(idx2, dist, N, K, N, &o, NULL, &g, NULL, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
}

/* The supervised set operations on a 3-point graph worked by hand: 0-1 (0.8), 0-2 (0.5), 1-2
 * (0.4), symmetric; labels 0, 0, 1. */
static void test_supervised_operations(void) {
    int64_t indptr[4] = {0, 2, 4, 6};
    umapc_idx indices[6] = {1, 2, 0, 2, 0, 1};
    float data[6] = {0.8f, 0.5f, 0.8f, 0.4f, 0.5f, 0.4f};
    umapc_graph g = {3, 3, 6, indptr, indices, data};
    int64_t labels[3] = {0, 0, 1};
    umapc_error err = {0};
    CHECK_OK(umapc_fuzzy_categorical_intersection(&g, labels, 1.0, 2.0, &err));
    float far = (float)(0.5 * exp(-2.0)), far4 = (float)(0.4 * exp(-2.0));
    CHECK_CLOSE(data[0], 0.8f, 0, 0); /* same label: kept */
    CHECK_CLOSE(data[1], far, 1e-7, 0);
    CHECK_CLOSE(data[3], far4, 1e-7, 0);
    /* reset: rows over their maximum (row 2's is 0.5 e^-2), then P + P^T - P.*P^T */
    umapc_graph out = {0};
    CHECK_OK(umapc_fuzzy_reset_local_connectivity(&g, 0, NULL, &out, &err));
    CHECK(out.nnz == 6);
    float p02 = far / 0.8f, p20 = 1.0f; /* row 0 max 0.8; row 2 max is its own 0-2 entry */
    CHECK_CLOSE(out.data[1], p02 + p20 - p02 * p20, 1e-6, 0);
    CHECK_CLOSE(out.data[0], 1.0f, 1e-6, 0);
    umapc_graph_free(&out);
    /* an unlabelled point scales by exp(-unknown_dist) */
    float d2[6] = {0.8f, 0.5f, 0.8f, 0.4f, 0.5f, 0.4f};
    g.data = d2;
    int64_t semi[3] = {0, -1, 1};
    CHECK_OK(umapc_fuzzy_categorical_intersection(&g, semi, 1.0, 2.0, &err));
    CHECK_CLOSE(d2[0], (float)(0.8 * exp(-1.0)), 1e-7, 0);
    /* general intersection with weight 0.5: left * right where both have the entry */
    float right_data[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    float left_data[6] = {0.8f, 0.5f, 0.8f, 0.4f, 0.5f, 0.4f};
    umapc_graph left = {3, 3, 6, indptr, indices, left_data};
    umapc_graph right = {3, 3, 6, indptr, indices, right_data};
    CHECK_OK(umapc_fuzzy_combine(&left, &right, UMAPC_SET_INTERSECTION, 0.5, NULL, &out, &err));
    CHECK(out.nnz == 6);
    CHECK_CLOSE(out.data[0], 0.8f * 0.5f, 1e-6, 0);
    umapc_graph_free(&out);
    /* union: l + r - l r; difference: l^1 (1 - r) where both have the entry */
    CHECK_OK(umapc_fuzzy_combine(&left, &right, UMAPC_SET_UNION, 0.5, NULL, &out, &err));
    CHECK_CLOSE(out.data[0], 0.8f + 0.5f - 0.8f * 0.5f, 1e-6, 0);
    umapc_graph_free(&out);
    CHECK_OK(umapc_fuzzy_combine(&left, &right, UMAPC_SET_DIFFERENCE, 0.5, NULL, &out, &err));
    CHECK_CLOSE(out.data[0], 0.8f * (1.0f - 0.5f), 1e-6, 0);
    umapc_graph_free(&out);
    /* reset_local_metric: each row raised to the power that brings its sum to log2(15) */
    CHECK_OK(umapc_fuzzy_reset_local_connectivity(&left, 1, NULL, &out, &err));
    CHECK(out.nnz == 6);
    umapc_graph_free(&out);
    /* bad arguments are errors, not crashes */
    CHECK(umapc_fuzzy_combine(&left, &right, (umapc_set_op)7, 0.5, NULL, &out, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_fuzzy_combine(&left, &right, UMAPC_SET_INTERSECTION, 1.5, NULL, &out, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_fuzzy_categorical_intersection(&g, NULL, 1.0, 2.0, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
}

/* Offsets that overrun the arrays in one row and fall back to nnz in the next are refused
 * before any entry is read (validation used to read row 0's 5 entries out of 3; ASan, found by
 * tests/fuzz/fuzz_arrays.c). */
static void test_validate_overrunning_indptr(void) {
    int64_t indptr[3] = {0, 5, 3};
    umapc_idx *indices = malloc(3 * sizeof *indices);
    float *data = malloc(3 * sizeof *data);
    for (int i = 0; i < 3; i++) {
        indices[i] = i;
        data[i] = 1.0f;
    }
    umapc_graph g = {2, 4, 3, indptr, indices, data};
    umapc_error err = {0};
    CHECK(umapc_graph_validate(&g, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "decreases at row 1") != NULL);
    free(indices);
    free(data);
}

int main(void) {
    static umapc_idx idx[N * K];
    static float dist[N * K];
    make_knn(idx, dist, 7);
    test_sigma_rho(idx, dist);
    test_symmetrised(idx, dist, 1.0);
    test_symmetrised(idx, dist, 0.3);
    test_directed_and_missing(idx, dist);
    test_supervised_operations();
    test_validate_overrunning_indptr();
    CHECK_DONE();
}
