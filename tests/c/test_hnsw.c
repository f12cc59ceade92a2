/* HNSW index and k-NN graph against brute force (umapc_distance over all
 * pairs). */
#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* Gaussian clusters: the kind of structure (dense regions, gaps) that makes
 * graph search hard. */
static float *clustered(size_t n, size_t dim, size_t clusters, uint64_t seed) {
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
            x[i * dim + d] = centres[c * dim + d] + (float)g;
        }
    }
    free(centres);
    return x;
}

/* Hoare's selection: the value that would sit at position `at` of the sorted
 * array. */
static float select_kth(float *d, size_t n, size_t at) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = d[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (d[i] < pivot) {
                i++;
            }
            while (d[j] > pivot) {
                j--;
            }
            if (i <= j) {
                float t = d[i];
                d[i] = d[j];
                d[j] = t;
                i++;
                if (j == 0) {
                    break;
                }
                j--;
            }
        }
        if (at <= j) {
            hi = j;
        } else if (at >= i) {
            lo = i;
        } else {
            return d[at];
        }
    }
    return d[at];
}

/* k-th smallest true distance from q to the allowed rows. */

static float kth_distance(const umapc_metric *m, const float *data, size_t n, size_t dim,
                          const float *q, size_t k, const uint8_t *mask, size_t *n_allowed) {
    float *d = malloc(n * sizeof *d);
    size_t a = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask == NULL || mask[i]) {
            d[a++] = umapc_distance(m, q, data + i * dim, dim);
        }
    }
    float kth = a == 0 ? INFINITY : select_kth(d, a, (k < a ? k : a) - 1);
    free(d);
    *n_allowed = a;
    return kth;
}

/* Recall that counts ties as hits: a result is right when its distance is
 * within the exact k-th distance (duplicates make ids ambiguous, distances are
 * not). Also checks every returned distance against umapc_distance and that
 * results are allowed and sorted. */
static double recall(const umapc_metric *m, const float *data, size_t n, size_t dim,
                     const float *queries, size_t nq, size_t k, const umapc_idx *idx,
                     const float *dist, const uint8_t *mask) {
    size_t hits = 0, total = 0;
    for (size_t i = 0; i < nq; i++) {
        size_t allowed;
        float kth = kth_distance(m, data, n, dim, queries + i * dim, k, mask, &allowed);
        size_t expect = allowed < k ? allowed : k;
        total += expect;
        for (size_t j = 0; j < k; j++) {
            umapc_idx id = idx[i * k + j];
            if (j >= expect) {
                CHECK(id == -1 && isinf(dist[i * k + j]));
                continue;
            }
            if (id < 0) {
                continue;
            }
            CHECK(mask == NULL || mask[id]);
            CHECK(j == 0 || dist[i * k + j] >= dist[i * k + j - 1]);
            float d = umapc_distance(m, queries + i * dim, data + (size_t)id * dim, dim);
            CHECK_CLOSE(dist[i * k + j], d, 1e-3, 1e-3);
            hits += d <= kth * (1.0f + 1e-5f) + 1e-5f;
        }
    }
    return (double)hits / (double)total;
}

static umapc_hnsw *build(const umapc_metric *m, const float *x, size_t n, size_t dim, int threads) {
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.ef_construction = 100;
    o.seed = 7;
    o.n_threads = threads;
    umapc_hnsw *h = NULL;
    umapc_error err = {0};
    umapc_status st = umapc_hnsw_build(m, x, n, dim, &o, NULL, &h, &err);
    if (st != UMAPC_OK) {
        fprintf(stderr, "build failed: %s\n", err.message);
    }
    CHECK(st == UMAPC_OK && h != NULL);
    return h;
}

static double query_recall(const umapc_hnsw *h, const umapc_metric *m, const float *x, size_t n,
                           size_t dim, const float *q, size_t nq, size_t k, size_t ef,
                           const uint8_t *mask) {
    umapc_idx *idx = malloc(nq * k * sizeof *idx);
    float *dist = malloc(nq * k * sizeof *dist);
    umapc_query_options qo;
    umapc_query_options_init(&qo);
    qo.ef = ef;
    qo.filter_mask = mask;
    CHECK(umapc_hnsw_query(h, q, nq, k, &qo, NULL, idx, dist, NULL) == UMAPC_OK);
    double r = recall(m, x, n, dim, q, nq, k, idx, dist, mask);
    free(idx);
    free(dist);
    return r;
}

static void test_recall(const umapc_metric *m, const char *name) {
    size_t n = 4000, dim = 24, nq = 200, k = 10;
    float *x = clustered(n + nq, dim, 30, 1);
    const float *q = x + n * dim;
    umapc_hnsw *h = build(m, x, n, dim, 2);
    double r_default = query_recall(h, m, x, n, dim, q, nq, k, 0, NULL);
    double r_wide = query_recall(h, m, x, n, dim, q, nq, k, 200, NULL);
    printf("%s: recall@10 default ef %.4f, ef=200 %.4f\n", name, r_default, r_wide);
    CHECK(r_default >= 0.95);
    CHECK(r_wide >= 0.99);
    CHECK(umapc_hnsw_size(h) == n && umapc_hnsw_dim(h) == dim);
    /* Memory target: 1.1x the raw rows plus 8 M bytes per point. */
    CHECK(umapc_hnsw_memory(h) <= (size_t)(1.1 * (double)(n * dim * 4)) + 8 * 16 * n + 4096);
    umapc_hnsw_free(h);
    free(x);
}

static void knn_graph_check(const umapc_hnsw *h, const umapc_metric *m, const float *x, size_t n,
                            size_t dim, size_t k, double min_recall) {
    umapc_idx *idx = malloc(n * k * sizeof *idx);
    float *dist = malloc(n * k * sizeof *dist);
    CHECK(umapc_hnsw_knn_graph(h, k, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
    for (size_t i = 0; i < n; i++) {
        CHECK(idx[i * k] == (umapc_idx)i && dist[i * k] == 0.0f);
    }
    double r = recall(m, x, n, dim, x, n, k, idx, dist, NULL);
    printf("knn graph: recall@%zu %.4f\n", k, r);
    CHECK(r >= min_recall);
    free(idx);
    free(dist);
}

static void test_knn_graph(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 2000, dim = 20;
    float *x = clustered(n, dim, 25, 2);
    umapc_hnsw *h = build(&m, x, n, dim, 2);
    knn_graph_check(h, &m, x, n, dim, 15, 0.99);
    umapc_hnsw_free(h);
    /* Small integers (pixels): the 8-bit codes are lossless and give the distances directly. */
    for (size_t i = 0; i < n * dim; i++) {
        x[i] = nearbyintf(x[i] * 20.0f);
        x[i] = x[i] < 0.0f ? 0.0f : (x[i] > 255.0f ? 255.0f : x[i]);
    }
    h = build(&m, x, n, dim, 2);
    knn_graph_check(h, &m, x, n, dim, 15, 0.99);
    umapc_hnsw_free(h);
    free(x);
}

static uint8_t *serialize(const umapc_hnsw *h, size_t *size) {
    *size = umapc_hnsw_serialized_size(h);
    uint8_t *buf = malloc(*size);
    CHECK(umapc_hnsw_serialize(h, buf, *size, NULL) == UMAPC_OK);
    return buf;
}

static void test_determinism(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 3000, dim = 16;
    float *x = clustered(n, dim, 20, 3);
    size_t s1, s2, s3;
    umapc_hnsw *h1 = build(&m, x, n, dim, 1), *h2 = build(&m, x, n, dim, 2),
               *h3 = build(&m, x, n, dim, 3);
    uint8_t *b1 = serialize(h1, &s1), *b2 = serialize(h2, &s2), *b3 = serialize(h3, &s3);
    CHECK(s1 == s2 && s1 == s3);
    CHECK(memcmp(b1, b2, s1) == 0 && memcmp(b1, b3, s1) == 0);
    umapc_hnsw_free(h1);
    umapc_hnsw_free(h2);
    umapc_hnsw_free(h3);
    free(b1);
    free(b2);
    free(b3);
    free(x);
}

static void query_both(const umapc_hnsw *a, const umapc_hnsw *b, const float *q, size_t nq,
                       size_t k) {
    umapc_idx *ia = malloc(nq * k * sizeof *ia), *ib = malloc(nq * k * sizeof *ib);
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    CHECK(umapc_hnsw_query(a, q, nq, k, NULL, NULL, ia, da, NULL) == UMAPC_OK);
    CHECK(umapc_hnsw_query(b, q, nq, k, NULL, NULL, ib, db, NULL) == UMAPC_OK);
    CHECK(memcmp(ia, ib, nq * k * sizeof *ia) == 0 && memcmp(da, db, nq * k * sizeof *da) == 0);
    free(ia);
    free(ib);
    free(da);
    free(db);
}

static void test_serialize(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 1500, dim = 8;
    float *x = clustered(n, dim, 10, 4);
    umapc_hnsw *h = build(&m, x, n, dim, 2);
    size_t size, size2;
    uint8_t *buf = serialize(h, &size);
    umapc_hnsw *g = NULL;
    CHECK(umapc_hnsw_deserialize(buf, size, &g, NULL) == UMAPC_OK);
    uint8_t *buf2 = serialize(g, &size2);
    CHECK(size == size2 && memcmp(buf, buf2, size) == 0);
    query_both(h, g, x, 100, 10);
    umapc_hnsw_free(g);
    /* Truncations and byte flips: every outcome is a clean error or an index that
     * searches. */
    for (size_t cut = 0; cut < size; cut += 1 + cut / 3) {
        umapc_hnsw *t = NULL;
        umapc_error err = {0};
        CHECK(umapc_hnsw_deserialize(buf, cut, &t, &err) == UMAPC_ERR_CORRUPT && t == NULL);
    }
    umapc_rng rng;
    umapc_rng_seed(&rng, 5);
    size_t loaded = 0;
    for (int trial = 0; trial < 1000; trial++) {
        memcpy(buf2, buf, size);
        size_t at = trial < 200 ? (size_t)trial : umapc_rng_below(&rng, (uint32_t)size);
        buf2[at] ^= (uint8_t)(1u << umapc_rng_below(&rng, 8));
        umapc_hnsw *t = NULL;
        umapc_status st = umapc_hnsw_deserialize(buf2, size, &t, NULL);
        CHECK(st == UMAPC_OK || st == UMAPC_ERR_CORRUPT);
        if (st == UMAPC_OK) {
            umapc_idx idx[50];
            float dist[50];
            CHECK(umapc_hnsw_query(t, x, 5, 10, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
            loaded++;
            umapc_hnsw_free(t);
        }
    }
    printf("serialize: %zu of 1000 single-bit flips still load (vector bits)\n", loaded);
    umapc_hnsw_free(h);
    free(buf);
    free(buf2);
    free(x);
}

/* Indexes of two points, some with no node above layer 0 (NULL upper arrays, which serialising
 * passed to memcpy: undefined behaviour UBSan reports; found by tests/fuzz/fuzz_arrays.c), save
 * and load. */
static void test_serialize_tiny(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    float x[2 * 3] = {0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
    for (uint64_t seed = 0; seed < 16; seed++) {
        umapc_hnsw_options o;
        umapc_hnsw_options_init(&o);
        o.seed = seed;
        o.M = 7;
        umapc_hnsw *h = NULL, *back = NULL;
        CHECK_OK(umapc_hnsw_build(&m, x, 2, 3, &o, NULL, &h, &ce_));
        size_t size = 0;
        uint8_t *buf = serialize(h, &size);
        CHECK_OK(umapc_hnsw_deserialize(buf, size, &back, &ce_));
        CHECK(back != NULL && umapc_hnsw_size(back) == 2);
        umapc_hnsw_free(back);
        umapc_hnsw_free(h);
        free(buf);
    }
}

static void test_add(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 4000, dim = 16, nq = 200, k = 10;
    float *x = clustered(n + nq, dim, 20, 6);
    umapc_hnsw *h = build(&m, x, n / 2, dim, 2);
    CHECK(umapc_hnsw_add(h, x + (n / 2) * dim, n / 2, &(umapc_run_options){2}, NULL, NULL) ==
          UMAPC_OK);
    CHECK(umapc_hnsw_size(h) == n);
    double r = query_recall(h, &m, x, n, dim, x + n * dim, nq, k, 0, NULL);
    printf("add: recall@10 %.4f\n", r);
    CHECK(r >= 0.95);
    /* Added rows are found as themselves. */
    umapc_idx idx[1];
    float dist[1];
    CHECK(umapc_hnsw_query(h, x + (n - 1) * dim, 1, 1, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
    CHECK(idx[0] == (umapc_idx)(n - 1) && dist[0] == 0.0f);
    umapc_hnsw_free(h);
    free(x);
}

static void test_filter(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 4000, dim = 16, nq = 100, k = 10;
    float *x = clustered(n + nq, dim, 20, 8);
    const float *q = x + n * dim;
    umapc_hnsw *h = build(&m, x, n, dim, 2);
    uint8_t *mask = malloc(n);
    size_t keep_every[] = {3, 40, 900};
    for (size_t t = 0; t < 3; t++) {
        for (size_t i = 0; i < n; i++) {
            mask[i] = (i * 7919) % keep_every[t] == 0;
        }
        double r = query_recall(h, &m, x, n, dim, q, nq, k, 0, mask);
        printf("filter 1/%zu: recall@10 %.4f\n", keep_every[t], r);
        CHECK(r >= 0.95);
    }
    memset(mask, 0, n);
    query_recall(h, &m, x, n, dim, q, nq, k, 0, mask); /* all padding */
    umapc_hnsw_free(h);
    free(mask);
    free(x);
}

static void test_duplicates(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t distinct = 600, copies = 5, dim = 12, k = 10;
    size_t n = distinct * copies + 1000;
    float *base = clustered(distinct + 1000 + 100, dim, 10, 9);
    float *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < distinct * copies; i++) {
        memcpy(x + i * dim, base + (i % distinct) * dim, dim * sizeof *x);
    }
    memcpy(x + distinct * copies * dim, base + distinct * dim, 1000 * dim * sizeof *x);
    /* One point repeated 300 times: a clique of zero distances. */
    for (size_t i = 0; i < 300; i++) {
        memcpy(x + (distinct * copies + i) * dim, base, dim * sizeof *x);
    }
    umapc_hnsw *h = build(&m, x, n, dim, 2);
    double r = query_recall(h, &m, x, n, dim, base + (distinct + 1000) * dim, 100, k, 0, NULL);
    printf("duplicates: recall@10 %.4f\n", r);
    CHECK(r >= 0.95);
    knn_graph_check(h, &m, x, n, dim, k, 0.97);
    umapc_hnsw_free(h);
    free(base);
    free(x);
}

static int stop_at_second_call(void *user, const char *stage, size_t done, size_t total) {
    (void)stage;
    (void)done;
    (void)total;
    return ++*(int *)user >= 2;
}

static void test_interrupt(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 3000, dim = 8;
    float *x = clustered(n, dim, 10, 11);
    int calls = 0;
    umapc_progress stop = {stop_at_second_call, &calls};
    umapc_hnsw *h = NULL;
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.n_threads = 2;
    CHECK(umapc_hnsw_build(&m, x, n, dim, &o, &stop, &h, NULL) == UMAPC_ERR_INTERRUPTED);
    CHECK(h == NULL);
    /* An interrupted add keeps the rows linked so far; the index stays valid and
     * searchable. */
    CHECK(umapc_hnsw_build(&m, x, n / 2, dim, &o, NULL, &h, NULL) == UMAPC_OK);
    calls = 0;
    CHECK(umapc_hnsw_add(h, x + (n / 2) * dim, n / 2, &(umapc_run_options){2}, &stop, NULL) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(umapc_hnsw_size(h) >= n / 2 && umapc_hnsw_size(h) < n);
    size_t size;
    uint8_t *buf = serialize(h, &size);
    umapc_hnsw *g = NULL;
    CHECK(umapc_hnsw_deserialize(buf, size, &g, NULL) == UMAPC_OK);
    query_both(h, g, x, 50, 5);
    umapc_hnsw_free(g);
    free(buf);
    umapc_hnsw_free(h);
    free(x);
}

typedef struct stage_log {
    const char *stage;
    size_t calls, last_done, total, bad;
    int stop; /* STOP_FIRST, STOP_AT_END or STOP_NEVER */
} stage_log;

enum { STOP_FIRST, STOP_AT_END, STOP_NEVER };

static int log_stage(void *user, const char *stage, size_t done, size_t total) {
    stage_log *log = user;
    log->bad += strcmp(stage, log->stage) != 0 || done > total;
    log->calls++;
    log->last_done = done;
    log->total = total;
    return log->stop == STOP_FIRST || (log->stop == STOP_AT_END && done == total);
}

/* Queries and the k-NN graph stop at a report that asks to, the final one included, with their
 * own messages; without a stop the last report is the total. */
static void test_interrupt_search(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 3000, dim = 8, k = 5;
    float *x = clustered(n, dim, 10, 12);
    umapc_hnsw *h = build(&m, x, n, dim, 2);
    umapc_idx *idx = malloc(n * k * sizeof *idx);
    float *dist = malloc(n * k * sizeof *dist);
    umapc_query_options qo;
    umapc_query_options_init(&qo);
    qo.n_threads = 2;
    umapc_knn_graph_options go;
    umapc_knn_graph_options_init(&go);
    go.n_threads = 2;
    for (int stop = STOP_FIRST; stop <= STOP_AT_END; stop++) {
        stage_log log = {"hnsw query", 0, 0, 0, 0, stop};
        umapc_progress p = {log_stage, &log};
        umapc_error err = {0};
        CHECK(umapc_hnsw_query(h, x, n, k, &qo, &p, idx, dist, &err) == UMAPC_ERR_INTERRUPTED);
        CHECK(strcmp(err.message, "hnsw: query interrupted") == 0);
        CHECK(log.bad == 0 && log.calls >= 1 && log.total == n);
        log = (stage_log){"knn graph", 0, 0, 0, 0, stop};
        CHECK(umapc_hnsw_knn_graph(h, k, &go, &p, idx, dist, &err) == UMAPC_ERR_INTERRUPTED);
        CHECK(strcmp(err.message, "knn graph: interrupted") == 0);
        CHECK(log.bad == 0 && log.calls >= 1 && log.total == n);
    }
    stage_log log = {"hnsw query", 0, 0, 0, 0, STOP_NEVER};
    umapc_progress p = {log_stage, &log};
    CHECK(umapc_hnsw_query(h, x, n, k, &qo, &p, idx, dist, NULL) == UMAPC_OK);
    CHECK(log.bad == 0 && log.last_done == n && log.total == n);
    log = (stage_log){"knn graph", 0, 0, 0, 0, STOP_NEVER};
    CHECK(umapc_hnsw_knn_graph(h, k, &go, &p, idx, dist, NULL) == UMAPC_OK);
    CHECK(log.bad == 0 && log.last_done == n && log.total == n);
    free(idx);
    free(dist);
    umapc_hnsw_free(h);
    free(x);
}

static void test_errors(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    float x[8] = {0};
    umapc_hnsw *h = NULL;
    umapc_error err = {0};
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.M = 1;
    CHECK(umapc_hnsw_build(&m, x, 4, 2, &o, NULL, &h, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(h == NULL && err.message[0] != '\0');
    CHECK(umapc_hnsw_build(&m, x, 0, 2, NULL, NULL, &h, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    /* k larger than the index: padded, no error. */
    CHECK(umapc_hnsw_build(&m, x, 4, 2, NULL, NULL, &h, NULL) == UMAPC_OK);
    umapc_idx idx[6];
    float dist[6];
    CHECK(umapc_hnsw_query(h, x, 1, 6, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
    CHECK(idx[3] >= 0 && idx[4] == -1 && idx[5] == -1 && isinf(dist[5]));
    umapc_hnsw_free(h);
}

/* Non-finite rows are refused (they used to be indexed, and the k-NN graph's 8-bit codes then cast
 * NaN to an integer: undefined behaviour, found by tests/fuzz/fuzz_arrays.c), by build and by add;
 * rows at +-FLT_MAX (an infinite column range, so a code scale of 0 and inf * 0 = NaN) give a
 * graph without that cast. */
static void test_non_finite_rows(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    float x[30 * 3];
    for (size_t i = 0; i < 30 * 3; i++) {
        x[i] = (float)(i % 7);
    }
    umapc_hnsw *h = NULL;
    umapc_error err = {0};
    x[40] = NAN;
    CHECK(umapc_hnsw_build(&m, x, 30, 3, NULL, NULL, &h, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(h == NULL && strstr(err.message, "row 13") != NULL);
    x[40] = 1.0f;
    CHECK_OK(umapc_hnsw_build(&m, x, 30, 3, NULL, NULL, &h, &ce_));
    float bad[3] = {0.0f, INFINITY, 1.0f};
    CHECK(umapc_hnsw_add(h, bad, 1, &(umapc_run_options){1}, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_hnsw_size(h) == 30);
    umapc_hnsw_free(h);
    x[0] = FLT_MAX;
    x[3] = -FLT_MAX;
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.lossless_codes = 0;
    CHECK_OK(umapc_hnsw_build(&m, x, 30, 3, &o, NULL, &h, &ce_));
    umapc_idx idx[30 * 4];
    float dist[30 * 4];
    CHECK_OK(umapc_hnsw_knn_graph(h, 4, NULL, NULL, idx, dist, &ce_));
    for (size_t i = 0; i < 30; i++) {
        CHECK(idx[i * 4] == (umapc_idx)i);
    }
    umapc_hnsw_free(h);
}

/* Pixel-like data: integers spanning at most 255 per column. */
static float *pixels(size_t n, size_t dim, uint64_t seed) {
    float *x = clustered(n, dim, 20, seed);
    for (size_t i = 0; i < n * dim; i++) {
        x[i] = nearbyintf(x[i] * 30.0f) + 40.0f;
        x[i] = x[i] < 0.0f ? 0.0f : (x[i] > 255.0f ? 255.0f : x[i]);
    }
    return x;
}

static umapc_hnsw *build_codes(const float *x, size_t n, size_t dim, int codes, int threads) {
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.ef_construction = 100;
    o.n_threads = threads;
    o.lossless_codes = codes;
    umapc_hnsw *h = NULL;
    CHECK(umapc_hnsw_build(&m, x, n, dim, &o, NULL, &h, NULL) == UMAPC_OK);
    return h;
}

/* Integer rows stored as 8-bit codes: the same graph and the same answers as float rows, at a
 * fraction of the memory; queries off the integer grid, saving, threads and additions that do not
 * fit the codes all keep working. */
static void test_lossless_codes(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 3000, dim = 40, nq = 200, k = 10;
    float *x = pixels(n + nq, dim, 9);
    const float *q = x + n * dim;
    umapc_hnsw *coded = build_codes(x, n, dim, 1, 2), *plain = build_codes(x, n, dim, 0, 2);
    CHECK(umapc_hnsw_memory(plain) >= umapc_hnsw_memory(coded) + n * 2 * dim); /* 1 byte, not 4 */
    query_both(coded, plain, q, nq, k);
    umapc_hnsw *coded1 = build_codes(x, n, dim, 1, 1);
    size_t s1, s2, s3;
    uint8_t *b1 = serialize(coded1, &s1), *b2 = serialize(coded, &s2);
    CHECK(s1 == s2 && memcmp(b1, b2, s1) == 0);
    umapc_hnsw *loaded = NULL;
    CHECK(umapc_hnsw_deserialize(b2, s2, &loaded, NULL) == UMAPC_OK);
    uint8_t *b3 = serialize(loaded, &s3);
    CHECK(s3 == s2 && memcmp(b3, b2, s2) == 0);
    query_both(coded, loaded, q, nq, k);
    /* Queries off the grid are measured as floats against the codes. */
    float *off = malloc(nq * dim * sizeof *off);
    for (size_t i = 0; i < nq * dim; i++) {
        off[i] = q[i] + 0.37f;
    }
    double r_off = query_recall(coded, &m, x, n, dim, off, nq, k, 0, NULL);
    printf("lossless codes: recall@10 of off-grid queries %.4f\n", r_off);
    CHECK(r_off >= 0.95);
    /* Rows that the codes cannot hold turn the index back into float rows. */
    float *extra = malloc(50 * dim * sizeof *extra);
    for (size_t i = 0; i < 50 * dim; i++) {
        extra[i] = x[i] + 1000.5f;
    }
    size_t before = umapc_hnsw_memory(coded);
    CHECK(umapc_hnsw_add(coded, extra, 50, &(umapc_run_options){2}, NULL, NULL) == UMAPC_OK);
    CHECK(umapc_hnsw_memory(coded) >= before + n * 2 * dim);
    umapc_idx idx[1];
    float dist[1];
    CHECK(umapc_hnsw_query(coded, extra + 7 * dim, 1, 1, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
    CHECK(idx[0] == (umapc_idx)(n + 7) && dist[0] == 0.0f);
    double r_after = query_recall(coded, &m, x, n, dim, q, nq, k, 0, NULL);
    CHECK(r_after >= 0.95);
    umapc_hnsw_free(coded);
    umapc_hnsw_free(coded1);
    umapc_hnsw_free(plain);
    umapc_hnsw_free(loaded);
    free(b1);
    free(b2);
    free(b3);
    free(off);
    free(extra);
    free(x);
}

/* umapc_hnsw_build_from_graph from NN-descent's graph (k = 15, as a UMAP fit has it). */
static umapc_hnsw *build_from_graph(const umapc_metric *m, const float *x, size_t n, size_t dim,
                                    const umapc_idx *knn, size_t k, int threads) {
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.ef_construction = 100;
    o.seed = 7;
    o.n_threads = threads;
    umapc_hnsw *h = NULL;
    umapc_error err = {0};
    umapc_status st = umapc_hnsw_build_from_graph(m, x, n, dim, &o, knn, k, NULL, &h, &err);
    if (st != UMAPC_OK) {
        fprintf(stderr, "build from graph failed: %s\n", err.message);
    }
    CHECK(st == UMAPC_OK && h != NULL);
    return h;
}

static umapc_idx *nndescent_graph(const umapc_metric *m, const float *x, size_t n, size_t dim,
                                  size_t k) {
    umapc_idx *knn = malloc(n * k * sizeof *knn);
    float *dist = malloc(n * k * sizeof *dist);
    CHECK(umapc_nndescent_knn_graph(m, x, n, dim, k, NULL, NULL, NULL, knn, dist, NULL) ==
          UMAPC_OK);
    free(dist);
    return knn;
}

/* Recall at the default ef within 0.01 of the insertion build's, on the same rows and queries. */
static void test_from_graph_recall(const umapc_metric *m, const char *name) {
    size_t n = 4000, dim = 24, nq = 200, k = 10, gk = 15;
    float *x = clustered(n + nq, dim, 30, 1);
    const float *q = x + n * dim;
    umapc_idx *knn = nndescent_graph(m, x, n, dim, gk);
    umapc_hnsw *g = build_from_graph(m, x, n, dim, knn, gk, 2), *h = build(m, x, n, dim, 2);
    double r_graph = query_recall(g, m, x, n, dim, q, nq, k, 0, NULL);
    double r_insert = query_recall(h, m, x, n, dim, q, nq, k, 0, NULL);
    printf("%s from graph: recall@10 default ef %.4f (insertion build %.4f)\n", name, r_graph,
           r_insert);
    CHECK(r_graph >= r_insert - 0.01);
    CHECK(umapc_hnsw_size(g) == n && umapc_hnsw_dim(g) == dim);
    CHECK(umapc_hnsw_memory(g) == umapc_hnsw_memory(h)); /* same storage, levels, lists */
    umapc_hnsw_free(g);
    umapc_hnsw_free(h);
    free(knn);
    free(x);
}

/* Same bytes for any thread count; a round trip answers the same; rows added later by insertion
 * are found; integer rows are stored as codes as an insertion build stores them. */
static void test_from_graph_index(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 3000, dim = 16, gk = 12, extra = 300;
    float *x = pixels(n + extra, dim, 5);
    umapc_idx *knn = nndescent_graph(&m, x, n, dim, gk);
    umapc_hnsw *h1 = build_from_graph(&m, x, n, dim, knn, gk, 1);
    umapc_hnsw *h3 = build_from_graph(&m, x, n, dim, knn, gk, 3);
    umapc_hnsw *coded = build(&m, x, n, dim, 2); /* the same seed, so the same levels */
    CHECK(umapc_hnsw_memory(h1) == umapc_hnsw_memory(coded));
    size_t s1, s3;
    uint8_t *b1 = serialize(h1, &s1), *b3 = serialize(h3, &s3);
    CHECK(s1 == s3 && memcmp(b1, b3, s1) == 0);
    umapc_hnsw *back = NULL;
    CHECK(umapc_hnsw_deserialize(b1, s1, &back, NULL) == UMAPC_OK);
    query_both(h1, back, x + n * dim, extra, 10);
    CHECK(umapc_hnsw_add(h1, x + n * dim, extra, NULL, NULL, NULL) == UMAPC_OK);
    CHECK(umapc_hnsw_size(h1) == n + extra);
    double r = query_recall(h1, &m, x, n + extra, dim, x + n * dim, extra, 10, 0, NULL);
    printf("from graph, then %zu rows added: recall@10 of the added rows %.4f\n", extra, r);
    CHECK(r >= 0.95);
    umapc_hnsw_free(h1);
    umapc_hnsw_free(h3);
    umapc_hnsw_free(coded);
    umapc_hnsw_free(back);
    free(b1);
    free(b3);
    free(knn);
    free(x);
}

static void test_from_graph_errors(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t n = 200, dim = 4, k = 5;
    float *x = clustered(n, dim, 3, 9);
    umapc_idx *knn = nndescent_graph(&m, x, n, dim, k);
    umapc_hnsw *h = (umapc_hnsw *)1;
    umapc_error err = {0};
    /* Every failure leaves *out NULL, the argument checks' too. */
    CHECK(umapc_hnsw_build_from_graph(&m, x, 0, dim, NULL, knn, k, NULL, &h, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT &&
          h == NULL);
    h = (umapc_hnsw *)1;
    CHECK(umapc_hnsw_build(&m, x, 0, dim, NULL, NULL, &h, &err) == UMAPC_ERR_INVALID_ARGUMENT &&
          h == NULL);
    h = (umapc_hnsw *)1;
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, NULL, k, NULL, &h, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT &&
          h == NULL);
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, knn, 0, NULL, &h, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    knn[17] = (umapc_idx)n;
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, knn, k, NULL, &h, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT &&
          h == NULL);
    CHECK(strstr(err.message, "row 3") != NULL);
    knn[17] = -2;
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, knn, k, NULL, &h, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    knn[17] = -1; /* a missing neighbour is allowed */
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, knn, k, NULL, &h, &err) == UMAPC_OK);
    umapc_hnsw_free(h);
    int calls = 0;
    umapc_progress stop = {stop_at_second_call, &calls};
    CHECK(umapc_hnsw_build_from_graph(&m, x, n, dim, NULL, knn, k, &stop, &h, &err) ==
              UMAPC_ERR_INTERRUPTED &&
          h == NULL);
    free(knn);
    free(x);
}

int main(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    test_recall(&m, "euclidean");
    m.kind = UMAPC_METRIC_COSINE;
    test_recall(&m, "cosine");
    m.kind = UMAPC_METRIC_MANHATTAN;
    test_recall(&m, "manhattan");
    test_knn_graph();
    test_determinism();
    test_serialize();
    test_serialize_tiny();
    test_add();
    test_lossless_codes();
    test_filter();
    test_duplicates();
    test_errors();
    test_non_finite_rows();
    test_interrupt();
    test_interrupt_search();
    umapc_metric_init(&m);
    test_from_graph_recall(&m, "euclidean");
    m.kind = UMAPC_METRIC_COSINE;
    test_from_graph_recall(&m, "cosine");
    test_from_graph_index();
    test_from_graph_errors();
    CHECK_DONE();
}
