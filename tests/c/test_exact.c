/* Exact search against a naive O(n^2) reference built on umapc_distance: every metric, every
 * kernel level, k from 1 to n, filter masks, duplicates, ties, zero rows, odd dimensions. */
#include "check.h"
#include "exact_kernels.h"
#include "internal.h"
#include "umapc/exact.h"

#include <stdlib.h>
#include <string.h>

/* ---- reference --------------------------------------------------------------------------------
 */

typedef struct ref_item {
    float d;
    umapc_idx i;
} ref_item;

static int ref_before(ref_item a, ref_item b) {
    if (a.d < b.d) {
        return 1;
    }
    if (a.d > b.d) {
        return 0;
    }
    if (isnan(a.d) != isnan(b.d)) {
        return isnan(b.d);
    }
    return a.i < b.i;
}

static int ref_compare(const void *pa, const void *pb) {
    ref_item a = *(const ref_item *)pa, b = *(const ref_item *)pb;
    return ref_before(a, b) ? -1 : (ref_before(b, a) ? 1 : 0);
}

/* k nearest allowed rows of query q, excluding `skip` (-1 for none), padded with -1 / +inf. */
static void naive_query(const umapc_metric *m, const float *data, size_t n, size_t dim,
                        const float *q, size_t k, const uint8_t *mask, umapc_idx skip,
                        umapc_idx *idx, float *dist) {
    ref_item *all = malloc((n + 1) * sizeof *all);
    size_t cnt = 0;
    for (size_t j = 0; j < n; j++) {
        if ((mask == NULL || mask[j]) && (umapc_idx)j != skip) {
            all[cnt++] = (ref_item){umapc_distance(m, q, data + j * dim, dim), (umapc_idx)j};
        }
    }
    qsort(all, cnt, sizeof *all, ref_compare);
    for (size_t i = 0; i < k; i++) {
        idx[i] = i < cnt ? all[i].i : -1;
        dist[i] = i < cnt ? all[i].d : INFINITY;
    }
    free(all);
}

static int same_results(const umapc_idx *ia, const float *da, const umapc_idx *ib, const float *db,
                        size_t count) {
    for (size_t i = 0; i < count; i++) {
        int dist_same = (da[i] == db[i]) || (isnan(da[i]) && isnan(db[i]));
        if (ia[i] != ib[i] || !dist_same) {
            fprintf(stderr, "  mismatch at %zu: index %d vs %d, distance %.9g vs %.9g\n", i,
                    (int)ia[i], (int)ib[i], (double)da[i], (double)db[i]);
            return 0;
        }
    }
    return 1;
}

/* ---- data -------------------------------------------------------------------------------------
 */

typedef enum data_kind {
    DATA_GAUSSIAN, /* continuous, a few exact duplicates and a zero row */
    DATA_INTEGER,  /* small nonnegative integers: many tied distances */
    DATA_OFFSET,   /* tiny spread around a large offset: norm expansion cancels badly */
} data_kind;

static float gaussian(umapc_rng *rng) {
    double u1 = umapc_rng_uniform(rng) + 1e-12, u2 = umapc_rng_uniform(rng);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float *make_data(data_kind kind, size_t n, size_t dim, uint64_t seed) {
    float *x = malloc(n * dim * sizeof *x);
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n * dim; i++) {
        switch (kind) {
        case DATA_GAUSSIAN:
            x[i] = fabsf(gaussian(&rng)) + 0.01f * (float)(i % 3);
            break;
        case DATA_INTEGER:
            x[i] = (float)umapc_rng_below(&rng, 3);
            break;
        case DATA_OFFSET:
            x[i] = 1000.0f + 0.01f * fabsf(gaussian(&rng));
            break;
        }
    }
    /* Duplicates (rows 3, 7 copy rows 1, 2; the last row copies row 0) and a zero row. */
    if (n > 8) {
        memcpy(x + 3 * dim, x + 1 * dim, dim * sizeof *x);
        memcpy(x + 7 * dim, x + 2 * dim, dim * sizeof *x);
        memcpy(x + (n - 1) * dim, x, dim * sizeof *x);
        memset(x + 5 * dim, 0, dim * sizeof *x);
    }
    return x;
}

/* ---- kernels ----------------------------------------------------------------------------------
 */

/* Test level 0 is direct evaluation (no kernel); 1 + l is the tile kernel of umapc_level l
 * (scalar, avx2, avx512, neon), NULL where this CPU or build lacks it. */
#define TEST_LEVELS 4

static const exact_gemm_kernel *kernel_at(int level) {
    return level == 0 ? NULL : exact_kernel_at((umapc_level)(level - 1));
}

static const char *level_name(int level) {
    const exact_gemm_kernel *k = kernel_at(level);
    return level == 0 ? "direct" : (k != NULL ? k->level : "missing");
}

/* One tile against double-precision dot products, and hits consistent with the values. */
static void test_tile(const exact_gemm_kernel *kern, size_t dim, uint64_t seed) {
    size_t mr = kern->mr, nr = kern->nr;
    float *a_rows = make_data(DATA_GAUSSIAN, mr, dim, seed);
    float *b_rows = make_data(DATA_GAUSSIAN, nr, dim, seed + 1);
    float *a = umapc_aligned_alloc(mr * dim, sizeof(float));
    float *b = umapc_aligned_alloc(nr * dim, sizeof(float));
    float *tile = umapc_aligned_alloc(mr * nr, sizeof(float));
    float row_norm[32], col_norm[32], col_slack[32], bound[32];
    uint32_t hits[32];
    exact_pack_panel(a_rows, mr - 1, dim, mr, a); /* last row left as zero padding */
    exact_pack_panel(b_rows, nr, dim, nr, b);
    for (size_t r = 0; r < mr; r++) {
        row_norm[r] = (float)r;
        bound[r] = (r % 2 == 0) ? INFINITY : -(float)dim * 0.5f;
    }
    for (size_t c = 0; c < nr; c++) {
        col_norm[c] = 0.5f * (float)c;
        col_slack[c] = 0.25f * (float)c;
    }
    exact_tile_args args = {row_norm, col_norm, col_slack, bound, INFINITY};
    kern->tile(dim, a, b, &args, tile, hits);
    for (size_t r = 0; r < mr; r++) {
        for (size_t c = 0; c < nr; c++) {
            double dot = 0.0, mag = 0.0;
            for (size_t i = 0; r + 1 < mr && i < dim; i++) {
                dot += (double)a_rows[r * dim + i] * (double)b_rows[c * dim + i];
                mag += fabs((double)a_rows[r * dim + i] * (double)b_rows[c * dim + i]);
            }
            double want = row_norm[r] + col_norm[c] - 2.0 * dot;
            CHECK_CLOSE(tile[r * nr + c], want, 0.0,
                        1e-5 * (mag + 1.0 + row_norm[r] + col_norm[c]));
            int hit = (hits[r] >> c) & 1u;
            CHECK(hit == (tile[r * nr + c] - col_slack[c] <= bound[r]));
        }
    }
    /* The clamp caps every value (dot's saturation). */
    args.clamp_max = 0.0f;
    kern->tile(dim, a, b, &args, tile, hits);
    for (size_t i = 0; i < mr * nr; i++) {
        CHECK(tile[i] <= 0.0f);
    }
    free(a_rows);
    free(b_rows);
    umapc_aligned_free(a);
    umapc_aligned_free(b);
    umapc_aligned_free(tile);
}

static void test_kernels(void) {
    const size_t dims[] = {1, 2, 3, 17, 64, 784};
    for (int level = 1; level <= TEST_LEVELS; level++) {
        const exact_gemm_kernel *kern = kernel_at(level);
        if (kern == NULL) {
            printf("kernel %d not supported by this CPU, skipped\n", level);
            continue;
        }
        CHECK(kern->nr <= 32);
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            test_tile(kern, dims[d], 100 + d);
        }
    }
}

/* ---- search against the reference -------------------------------------------------------------
 */

typedef struct case_spec {
    data_kind data;
    size_t n, nq, dim;
    int with_mask;
} case_spec;

static void make_mask(uint8_t *mask, size_t n, uint64_t seed, int mode) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t j = 0; j < n; j++) {
        /* mode 1: about two thirds allowed; mode 2: only three rows allowed. */
        mask[j] = mode == 1 ? (umapc_rng_below(&rng, 3) != 0) : (j % (n / 3 + 1) == 1);
    }
}

static int check_search(int level, const umapc_metric *m, const float *data, size_t n, size_t dim,
                        const float *q, size_t nq, size_t k, const uint8_t *mask, int threads) {
    umapc_idx *idx = malloc(nq * k * sizeof *idx), *ridx = malloc(nq * k * sizeof *ridx);
    float *dist = malloc(nq * k * sizeof *dist), *rdist = malloc(nq * k * sizeof *rdist);
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = threads;
    umapc_error err = {0};
    umapc_status st = exact_search_with(kernel_at(level), m, data, n, dim, q, nq, k, mask, &opts,
                                        NULL, idx, dist, &err);
    int ok = st == UMAPC_OK;
    for (size_t i = 0; ok && i < nq; i++) {
        naive_query(m, data, n, dim, q + i * dim, k, mask, -1, ridx + i * k, rdist + i * k);
        ok = same_results(idx + i * k, dist + i * k, ridx + i * k, rdist + i * k, k);
    }
    if (!ok) {
        fprintf(
            stderr, "search mismatch: metric %s, level %s, n %zu, dim %zu, k %zu, mask %d (%s)\n",
            umapc_metric_name(m->kind), level_name(level), n, dim, k, mask != NULL, err.message);
    }
    free(idx);
    free(ridx);
    free(dist);
    free(rdist);
    return ok;
}

static int check_graph(int level, const umapc_metric *m, const float *data, size_t n, size_t dim,
                       size_t k, int threads) {
    umapc_idx *idx = malloc(n * k * sizeof *idx), *ridx = malloc(k * sizeof *ridx);
    float *dist = malloc(n * k * sizeof *dist), *rdist = malloc(k * sizeof *rdist);
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = threads;
    umapc_error err = {0};
    umapc_status st =
        exact_knn_graph_with(kernel_at(level), m, data, n, dim, k, &opts, NULL, idx, dist, &err);
    int ok = st == UMAPC_OK;
    for (size_t i = 0; ok && i < n; i++) {
        ok = idx[i * k] == (umapc_idx)i && dist[i * k] == 0.0f;
        if (k > 1 && ok) {
            naive_query(m, data, n, dim, data + i * dim, k - 1, NULL, (umapc_idx)i, ridx, rdist);
            ok = same_results(idx + i * k + 1, dist + i * k + 1, ridx, rdist, k - 1);
        }
    }
    if (!ok) {
        fprintf(stderr, "graph mismatch: metric %s, level %s, n %zu, dim %zu, k %zu (%s)\n",
                umapc_metric_name(m->kind), level_name(level), n, dim, k, err.message);
    }
    free(idx);
    free(ridx);
    free(dist);
    free(rdist);
    return ok;
}

static void metric_at(umapc_metric *m, int kind) {
    umapc_metric_init(m);
    m->kind = (umapc_metric_kind)kind;
    if (m->kind == UMAPC_METRIC_MINKOWSKI) {
        m->p = 3.0;
    }
}

/* Every metric, every level, k over the whole range on small data. */
static void test_all_metrics_all_k(void) {
    const size_t n = 41, nq = 9, dim = 3;
    const data_kind kinds[] = {DATA_GAUSSIAN, DATA_INTEGER, DATA_OFFSET};
    uint8_t mask[41];
    for (size_t dk = 0; dk < 3; dk++) {
        float *data = make_data(kinds[dk], n, dim, 7 + dk);
        const float *q = data + 2 * dim; /* queries include duplicates and the zero row */
        /* The metrics of metric_extra.c have their own domains and parameters: test_metric.c
         * covers them, and the Python tests their searches. */
        for (int kind = 0; kind <= UMAPC_METRIC_INNER_PRODUCT; kind++) {
            umapc_metric m;
            metric_at(&m, kind);
            for (int level = 0; level <= TEST_LEVELS; level++) {
                if (level > 0 && kernel_at(level) == NULL) {
                    continue;
                }
                for (size_t k = 1; k <= n; k++) {
                    CHECK(check_search(level, &m, data, n, dim, q, nq, k, NULL, 1));
                    if (k % 5 == 1) {
                        make_mask(mask, n, k, 1 + (int)(k % 2));
                        CHECK(check_search(level, &m, data, n, dim, q, nq, k, mask, 1));
                        CHECK(check_graph(level, &m, data, n, dim, k, 2));
                    }
                }
            }
        }
        free(data);
    }
}

/* Odd and large dimensions, n not a multiple of any block size, on the GEMM metrics. */
static void test_shapes(void) {
    const case_spec cases[] = {
        {DATA_GAUSSIAN, 203, 37, 1, 1},  {DATA_INTEGER, 131, 60, 17, 1},
        {DATA_GAUSSIAN, 97, 29, 784, 0}, {DATA_OFFSET, 150, 23, 17, 0},
        {DATA_INTEGER, 77, 77, 784, 1},
    };
    const int metrics[] = {UMAPC_METRIC_EUCLIDEAN,    UMAPC_METRIC_SQEUCLIDEAN,
                           UMAPC_METRIC_COSINE,       UMAPC_METRIC_CORRELATION,
                           UMAPC_METRIC_DOT,          UMAPC_METRIC_MANHATTAN,
                           UMAPC_METRIC_INNER_PRODUCT};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const case_spec *cs = &cases[c];
        float *data = make_data(cs->data, cs->n, cs->dim, 40 + c);
        float *q = make_data(cs->data, cs->nq, cs->dim, 80 + c);
        memcpy(q, data + 11 * cs->dim, cs->dim * sizeof *q); /* an exact duplicate of a row */
        uint8_t *mask = malloc(cs->n);
        make_mask(mask, cs->n, c, 1);
        for (size_t mi = 0; mi < sizeof metrics / sizeof metrics[0]; mi++) {
            umapc_metric m;
            metric_at(&m, metrics[mi]);
            const size_t ks[] = {1, 2, 16, 31, cs->n - 1, cs->n};
            for (int level = 1; level <= TEST_LEVELS; level++) {
                if (kernel_at(level) == NULL) {
                    continue;
                }
                for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                    CHECK(check_search(level, &m, data, cs->n, cs->dim, q, cs->nq, ks[ki],
                                       cs->with_mask ? mask : NULL, 1));
                }
                CHECK(check_graph(level, &m, data, cs->n, cs->dim, 16, 1));
            }
        }
        free(mask);
        free(data);
        free(q);
    }
}

/* The answer does not depend on the thread count (nor on the public entry's kernel). */
static void test_threads_identical(void) {
    const size_t n = 1200, dim = 24, k = 12;
    float *data = make_data(DATA_INTEGER, n, dim, 3);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_idx *i1 = malloc(n * k * sizeof *i1), *i3 = malloc(n * k * sizeof *i3);
    float *d1 = malloc(n * k * sizeof *d1), *d3 = malloc(n * k * sizeof *d3);
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = 1;
    CHECK(umapc_exact_knn_graph(&m, data, n, dim, k, &opts, NULL, i1, d1, NULL) == UMAPC_OK);
    opts.n_threads = 3;
    CHECK(umapc_exact_knn_graph(&m, data, n, dim, k, &opts, NULL, i3, d3, NULL) == UMAPC_OK);
    CHECK(memcmp(i1, i3, n * k * sizeof *i1) == 0);
    CHECK(memcmp(d1, d3, n * k * sizeof *d1) == 0);
    CHECK(check_graph(3, &m, data, n, dim, k, 2));
    free(data);
    free(i1);
    free(i3);
    free(d1);
    free(d3);
}

/* ---- errors and progress ----------------------------------------------------------------------
 */

typedef struct progress_log {
    size_t calls, last_done, total;
    size_t stop_after;
} progress_log;

static int log_progress(void *user, const char *stage, size_t done, size_t total) {
    progress_log *log = user;
    CHECK(strcmp(stage, "exact search") == 0);
    CHECK(done <= total);
    log->calls++;
    log->last_done = done;
    log->total = total;
    return log->stop_after != 0 && log->calls >= log->stop_after;
}

static void test_errors_and_progress(void) {
    const size_t n = 500, dim = 8;
    float *data = make_data(DATA_GAUSSIAN, n, dim, 9);
    umapc_idx *idx = malloc(n * 4 * sizeof *idx);
    float *dist = malloc(n * 4 * sizeof *dist);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_error err = {0};
    CHECK(umapc_exact_search(&m, data, n, dim, data, 3, 0, NULL, NULL, NULL, idx, dist, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "k must be") != NULL);
    CHECK(umapc_exact_search(&m, data, 3, dim, data, 3, 4, NULL, NULL, NULL, idx, dist, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_exact_knn_graph(&m, data, 3, dim, 4, NULL, NULL, idx, dist, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_exact_knn_graph(&m, data, n, 0, 4, NULL, NULL, idx, dist, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    m.kind = UMAPC_METRIC_MINKOWSKI;
    m.p = -1.0;
    CHECK(umapc_exact_knn_graph(&m, data, n, dim, 4, NULL, NULL, idx, dist, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    umapc_metric_init(&m);

    progress_log log = {0, 0, 0, 0};
    umapc_progress progress = {log_progress, &log};
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = 2;
    CHECK(umapc_exact_knn_graph(&m, data, n, dim, 4, &opts, &progress, idx, dist, &err) ==
          UMAPC_OK);
    CHECK(log.calls >= 1 && log.last_done == n && log.total == n);

    log = (progress_log){0, 0, 0, 1};
    err.message[0] = '\0';
    CHECK(umapc_exact_knn_graph(&m, data, n, dim, 4, &opts, &progress, idx, dist, &err) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(err.status == UMAPC_ERR_INTERRUPTED && err.message[0] != '\0');
    m.kind = UMAPC_METRIC_CANBERRA;
    log = (progress_log){0, 0, 0, 1};
    CHECK(umapc_exact_search(&m, data, n, dim, data, n, 4, NULL, &opts, &progress, idx, dist,
                             &err) == UMAPC_ERR_INTERRUPTED);
    free(data);
    free(idx);
    free(dist);
}

int main(void) {
    test_kernels();
    test_all_metrics_all_k();
    test_shapes();
    test_threads_identical();
    test_errors_and_progress();
    CHECK_DONE();
}
