/* NN-descent all-points graph against brute force (umapc_distance over all pairs). */
#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <stdlib.h>
#include <string.h>

/* Gaussian clusters; with `pixels`, rounded and clipped to 0..255 like image data (the 8-bit code
 * path), and with pixels == 2 then shifted to -300..-45 (codes relative to the column minima). */
static float *clustered(size_t n, size_t dim, size_t clusters, uint64_t seed, int pixels) {
    float *x = malloc(n * dim * sizeof *x);
    float *centres = malloc(clusters * dim * sizeof *centres);
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < clusters * dim; i++) {
        centres[i] = (float)(3.0 * umapc_rng_uniform(&rng));
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = umapc_rng_below(&rng, (uint32_t)clusters);
        for (size_t d = 0; d < dim; d++) {
            double u1 = umapc_rng_uniform(&rng) + 1e-12, u2 = umapc_rng_uniform(&rng);
            double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            float v = centres[c * dim + d] + (float)g;
            if (pixels) {
                v = roundf(40.0f * v + 100.0f);
                v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
                v -= pixels == 2 ? 300.0f : 0.0f;
            }
            x[i * dim + d] = v;
        }
    }
    free(centres);
    return x;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Share of the true k-1 nearest others found (a found point as close as the (k-1)-th true one
 * counts, so ties do not matter); also checks the row layout and the reported distances. */
static double check_graph(const umapc_metric *m, const float *x, size_t n, size_t dim, size_t k,
                          const umapc_idx *ind, const float *dist) {
    float *d = malloc(n * sizeof *d);
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        size_t o = 0;
        for (size_t j = 0; j < n; j++) {
            if (j != i) {
                d[o++] = umapc_distance(m, x + i * dim, x + j * dim, dim);
            }
        }
        qsort(d, o, sizeof *d, cmp_float);
        float kth = d[k - 2];
        CHECK(ind[i * k] == (umapc_idx)i && dist[i * k] == 0.0f);
        for (size_t c = 1; c < k; c++) {
            umapc_idx j = ind[i * k + c];
            CHECK(j >= 0 && (size_t)j < n && (size_t)j != i);
            if (j < 0 || (size_t)j >= n) {
                continue;
            }
            float t = umapc_distance(m, x + i * dim, x + (size_t)j * dim, dim);
            CHECK_CLOSE(dist[i * k + c], t, 1e-3, 1e-4);
            CHECK(dist[i * k + c] >= dist[i * k + c - 1]);
            hits += t <= kth * (1.0f + 1e-5f) + 1e-6f;
        }
    }
    free(d);
    return (double)hits / (double)(n * (k - 1));
}

/* checked: with the default recall check (small float data then takes the exact graph); else the
 * search alone. */
static void run(const umapc_metric *m, const float *x, size_t n, size_t dim, size_t k, int threads,
                int checked, umapc_idx *ind, float *dist) {
    umapc_nndescent_options o;
    umapc_nndescent_options_init(&o);
    o.n_threads = threads;
    if (!checked) {
        o.min_recall = 0.0;
    }
    o.seed = 7;
    CHECK_OK(umapc_nndescent_knn_graph(m, x, n, dim, k, &o, NULL, NULL, ind, dist, &ce_));
}

static void recall_and_determinism(umapc_metric_kind kind, int pixels, size_t n, size_t dim,
                                   int checked, double min_recall) {
    size_t k = 11;
    float *x = clustered(n, dim, 12, 11 + (uint64_t)kind, pixels);
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = kind;
    umapc_idx *ind[3];
    float *dist[3];
    for (int t = 0; t < 3; t++) {
        ind[t] = malloc(n * k * sizeof **ind);
        dist[t] = malloc(n * k * sizeof **dist);
        run(&m, x, n, dim, k, t + 1, checked, ind[t], dist[t]);
    }
    double r = check_graph(&m, x, n, dim, k, ind[0], dist[0]);
    if (r < min_recall) {
        fprintf(stderr, "metric %d pixels %d checked %d: recall %.4f < %.2f\n", (int)kind, pixels,
                checked, r, min_recall);
    }
    CHECK(r >= min_recall);
    for (int t = 1; t < 3; t++) {
        CHECK(memcmp(ind[0], ind[t], n * k * sizeof **ind) == 0);
        CHECK(memcmp(dist[0], dist[t], n * k * sizeof **dist) == 0);
    }
    for (int t = 0; t < 3; t++) {
        free(ind[t]);
        free(dist[t]);
    }
    free(x);
}

static void test_recall_and_determinism(umapc_metric_kind kind, int pixels, size_t n, size_t dim,
                                        double min_recall) {
    for (int checked = 0; checked < 2; checked++) {
        recall_and_determinism(kind, pixels, n, dim, checked, min_recall);
    }
}

/* Fewer points than neighbours asked for: every other point, then padding. */
static void test_tiny(void) {
    size_t n = 5, dim = 3, k = 8;
    float *x = clustered(n, dim, 2, 3, 0);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_idx ind[5 * 8];
    float dist[5 * 8];
    run(&m, x, n, dim, k, 2, 1, ind, dist);
    for (size_t i = 0; i < n; i++) {
        CHECK(ind[i * k] == (umapc_idx)i);
        for (size_t c = 1; c < n; c++) {
            CHECK(ind[i * k + c] >= 0 && (size_t)ind[i * k + c] != i);
        }
        for (size_t c = n; c < k; c++) {
            CHECK(ind[i * k + c] == -1 && isinf(dist[i * k + c]));
        }
    }
    free(x);
}

/* k = 1 with no extra neighbours searched: every row is its own point. Only row 0 used to be
 * written (the rest was left as the caller's memory, with UMAPC_OK); found by
 * tests/fuzz/fuzz_arrays.c. The single point with k > 1 is padded. */
static void test_k1_no_extra(void) {
    size_t n = 41, dim = 2;
    float *x = calloc(n * dim, sizeof *x);
    umapc_idx ind[41 * 3];
    float dist[41 * 3];
    memset(ind, 0x55, sizeof ind);
    memset(dist, 0x55, sizeof dist);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_nndescent_options o;
    umapc_nndescent_options_init(&o);
    o.extra = 0;
    CHECK_OK(umapc_nndescent_knn_graph(&m, x, n, dim, 1, &o, NULL, NULL, ind, dist, &ce_));
    for (size_t i = 0; i < n; i++) {
        CHECK(ind[i] == (umapc_idx)i && dist[i] == 0.0f);
    }
    CHECK_OK(umapc_nndescent_knn_graph(&m, x, 1, dim, 3, &o, NULL, NULL, ind, dist, &ce_));
    CHECK(ind[0] == 0 && dist[0] == 0.0f);
    CHECK(ind[1] == -1 && isinf(dist[1]) && ind[2] == -1 && isinf(dist[2]));
    free(x);
}

/* NaN among the rows: the 8-bit code check cast it to an integer (undefined behaviour; found by
 * tests/fuzz/fuzz_arrays.c). The rows are not codes then, and every row still starts with its own
 * point. */
static void test_nan_rows(void) {
    size_t n = 60, dim = 4, k = 5;
    float *x = clustered(n, dim, 3, 11, 1);
    x[7] = NAN;
    umapc_idx ind[60 * 5];
    float dist[60 * 5];
    umapc_metric m;
    umapc_metric_init(&m);
    CHECK_OK(umapc_nndescent_knn_graph(&m, x, n, dim, k, NULL, NULL, NULL, ind, dist, &ce_));
    for (size_t i = 0; i < n; i++) {
        CHECK(ind[i * k] == (umapc_idx)i);
    }
    free(x);
}

static int stop_now(void *user, const char *stage, size_t done, size_t total) {
    (void)user;
    (void)stage;
    (void)done;
    (void)total;
    return 1;
}

static void test_interrupt(void) {
    size_t n = 2000, dim = 8, k = 10;
    float *x = clustered(n, dim, 4, 5, 0);
    umapc_idx *ind = malloc(n * k * sizeof *ind);
    float *dist = malloc(n * k * sizeof *dist);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_progress p = {stop_now, NULL};
    umapc_error e = {0};
    CHECK(umapc_nndescent_knn_graph(&m, x, n, dim, k, NULL, &p, NULL, ind, dist, &e) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(umapc_nndescent_knn_graph(&m, x, n, dim, 0, NULL, NULL, NULL, ind, dist, &e) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    free(ind);
    free(dist);
    free(x);
}

int main(void) {
    test_recall_and_determinism(UMAPC_METRIC_EUCLIDEAN, 0, 2000, 24, 0.97);
    test_recall_and_determinism(UMAPC_METRIC_EUCLIDEAN, 1, 2000, 24, 0.97);
    /* pixels over more than one 64-byte chunk, and a point count that leaves partial tiles */
    test_recall_and_determinism(UMAPC_METRIC_EUCLIDEAN, 1, 2003, 100, 0.97);
    test_recall_and_determinism(UMAPC_METRIC_EUCLIDEAN, 2, 2000, 24, 0.97);
    test_recall_and_determinism(UMAPC_METRIC_COSINE, 0, 2000, 24, 0.97);
    test_recall_and_determinism(UMAPC_METRIC_MANHATTAN, 0, 2000, 24, 0.95);
    test_tiny();
    test_k1_no_extra();
    test_nan_rows();
    test_interrupt();
    CHECK_DONE();
}
