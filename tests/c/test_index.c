/* The index handle (src/knn/index.c): search-width limits, interrupted updates, the file format's
 * validation and its atomic, exclusive save. */
#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static float *uniform_rows(size_t n, size_t dim, uint64_t seed) {
    float *x = malloc(n * dim * sizeof *x);
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n * dim; i++) {
        x[i] = (float)umapc_rng_uniform(&rng);
    }
    return x;
}

static umapc_index *make(umapc_backend backend, umapc_metric_kind kind, const float *x, size_t n,
                         size_t dim) {
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = kind;
    umapc_index_options o;
    umapc_index_options_init(&o);
    o.backend = backend;
    o.hnsw.n_threads = 2;
    umapc_index *index = NULL;
    CHECK(umapc_index_create(&m, x, n, dim, &o, NULL, &index, NULL) == UMAPC_OK);
    return index;
}

/* ef far beyond the index size (up to SIZE_MAX, whose buffer size used to wrap to 0) searches
 * the whole graph: the same answers as ef = n. */
static void test_huge_ef(void) {
    size_t n = 300, dim = 6, k = 5, nq = 20;
    float *x = uniform_rows(n + nq, dim, 1);
    umapc_index *index = make(UMAPC_BACKEND_HNSW, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    umapc_idx want_i[20 * 5], got_i[20 * 5];
    float want_d[20 * 5], got_d[20 * 5];
    umapc_query_options q;
    umapc_query_options_init(&q);
    q.ef = n;
    CHECK(umapc_index_query(index, x + n * dim, nq, k, &q, NULL, want_i, want_d, NULL) == UMAPC_OK);
    size_t huge[] = {(size_t)1 << 61, (size_t)1 << 62, SIZE_MAX / 2, SIZE_MAX - 1, SIZE_MAX};
    for (size_t h = 0; h < sizeof huge / sizeof *huge; h++) {
        q.ef = huge[h];
        umapc_error err = {0};
        CHECK(umapc_index_query(index, x + n * dim, nq, k, &q, NULL, got_i, got_d, &err) ==
              UMAPC_OK);
        CHECK(memcmp(got_i, want_i, sizeof got_i) == 0);
        CHECK(memcmp(got_d, want_d, sizeof got_d) == 0);
    }
    umapc_index_free(index);
    free(x);
}

static int stop_at_second_call(void *user, const char *stage, size_t done, size_t total) {
    (void)stage;
    (void)done;
    (void)total;
    return ++*(int *)user >= 2;
}

/* An interrupted batched insert reports its size from the graph: every id a query or the k-NN
 * graph returns is below the reported size, and the file it saves loads again. */
static void test_interrupted_add(void) {
    size_t n = 3000, dim = 8, k = 4;
    float *x = uniform_rows(n, dim, 2);
    umapc_index *index = make(UMAPC_BACKEND_HNSW, UMAPC_METRIC_EUCLIDEAN, x, n / 2, dim);
    int calls = 0;
    umapc_progress stop = {stop_at_second_call, &calls};
    umapc_error err = {0};
    CHECK(umapc_index_add(index, x + (n / 2) * dim, n / 2, &(umapc_run_options){2}, &stop, &err) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(strstr(err.message, "new rows were added") != NULL);
    size_t size = umapc_index_size(index);
    CHECK(size > n / 2 && size < n);
    umapc_idx *gi = malloc(size * k * sizeof *gi);
    float *gd = malloc(size * k * sizeof *gd);
    CHECK(umapc_index_knn_graph(index, k, &(umapc_knn_graph_options){2, 0.99}, NULL, gi, gd,
                                NULL) == UMAPC_OK);
    int in_range = 1;
    for (size_t i = 0; i < size * k; i++) {
        in_range &= gi[i] >= 0 && (size_t)gi[i] < size;
    }
    CHECK(in_range);
    umapc_idx qi[10];
    float qd[10];
    umapc_query_options q;
    umapc_query_options_init(&q);
    q.ef = 1000;
    CHECK(umapc_index_query(index, x + (n - 1) * dim, 1, 10, &q, NULL, qi, qd, NULL) == UMAPC_OK);
    for (int j = 0; j < 10; j++) {
        CHECK(qi[j] >= 0 && (size_t)qi[j] < size);
    }
    uint8_t *bytes = NULL, *meta = NULL;
    size_t n_bytes = 0, meta_size = 0;
    umapc_blob none = {NULL, 0};
    CHECK(umapc_index_serialize(index, none, &bytes, &n_bytes, NULL) == UMAPC_OK);
    umapc_index *back = NULL;
    CHECK(umapc_index_deserialize(bytes, n_bytes, &back, &meta, &meta_size, NULL) == UMAPC_OK);
    CHECK(back != NULL && umapc_index_size(back) == size);
    umapc_index_free(back);
    umapc_free(bytes);
    free(gi);
    free(gd);
    umapc_index_free(index);
    free(x);
}

/* Rewrites the checksum after an edit, so that only the edited content can be rejected. */
static void reseal(uint8_t *bytes, size_t size) {
    uint64_t sum = umapc_index_checksum(bytes, size - 8);
    for (int i = 0; i < 8; i++) {
        bytes[size - 8 + (size_t)i] = (uint8_t)(sum >> (8 * i));
    }
}

static void test_load_validates_content(void) {
    size_t n = 200, dim = 4;
    float *x = uniform_rows(n, dim, 3);
    umapc_blob none = {NULL, 0};
    uint8_t *bytes = NULL, *meta = NULL;
    size_t size = 0, meta_size = 0;
    umapc_index *back = NULL;
    umapc_error err = {0};

    /* A NaN row in an exact index (header 64 bytes, no metadata, then the rows). */
    umapc_index *exact = make(UMAPC_BACKEND_EXACT, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    CHECK(umapc_index_serialize(exact, none, &bytes, &size, NULL) == UMAPC_OK);
    float nan = NAN;
    memcpy(bytes + 64 + 5 * sizeof(float), &nan, sizeof nan);
    reseal(bytes, size);
    CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, &err) ==
          UMAPC_ERR_CORRUPT);
    CHECK(back == NULL && strstr(err.message, "NaN") != NULL);
    umapc_free(bytes);
    umapc_index_free(exact);

    /* Negative rows in a file that claims hellinger (the rows were stored as euclidean). */
    for (size_t i = 0; i < n * dim; i++) {
        x[i] -= 0.5f;
    }
    exact = make(UMAPC_BACKEND_EXACT, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    CHECK(umapc_index_serialize(exact, none, &bytes, &size, NULL) == UMAPC_OK);
    bytes[16] = (uint8_t)UMAPC_METRIC_HELLINGER;
    reseal(bytes, size);
    CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, &err) ==
          UMAPC_ERR_CORRUPT);
    CHECK(back == NULL);
    umapc_free(bytes);
    umapc_index_free(exact);

    /* A file whose header says cosine around a euclidean graph. */
    umapc_index *graph = make(UMAPC_BACKEND_HNSW, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    CHECK(umapc_index_serialize(graph, none, &bytes, &size, NULL) == UMAPC_OK);
    CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, NULL) == UMAPC_OK);
    umapc_index_free(back);
    back = NULL;
    bytes[16] = (uint8_t)UMAPC_METRIC_COSINE;
    reseal(bytes, size);
    CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, &err) ==
          UMAPC_ERR_CORRUPT);
    CHECK(back == NULL && strstr(err.message, "metric") != NULL);
    umapc_free(bytes);
    umapc_index_free(graph);

    /* The reserved header word must be 0: it used to be ignored, so a file that differed from a
     * saved index there loaded and saved back different (found by tests/fuzz/fuzz_index_load.c). */
    exact = make(UMAPC_BACKEND_EXACT, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    CHECK(umapc_index_serialize(exact, none, &bytes, &size, NULL) == UMAPC_OK);
    bytes[23] = 2;
    reseal(bytes, size);
    CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, &err) ==
          UMAPC_ERR_CORRUPT);
    CHECK(back == NULL && strstr(err.message, "reserved") != NULL);
    umapc_index_free(back);
    umapc_free(bytes);
    umapc_index_free(exact);
    free(x);
}

/* metric "dot" normalises rows: rows of denormals (norm ~1e-40, so 1 / norm overflows float) used
 * to become inf and NaN, in an index that saved but did not load (found by
 * tests/fuzz/fuzz_arrays.c). They are unit rows now, and the file loads. */
static void test_dot_tiny_rows(void) {
    float x[3 * 2] = {1e-40f, 1e-40f, 3e-41f, 0.0f, 1.0f, 2.0f};
    umapc_index *index = make(UMAPC_BACKEND_EXACT, UMAPC_METRIC_DOT, x, 3, 2);
    float rows[3 * 2];
    CHECK_OK(umapc_index_copy_rows(index, rows, &ce_));
    CHECK_CLOSE(rows[0], 0.70710678, 1e-6, 0.0);
    CHECK_CLOSE(rows[2], 1.0, 1e-6, 0.0);
    umapc_blob none = {NULL, 0};
    uint8_t *bytes = NULL, *meta = NULL;
    size_t size = 0, meta_size = 0;
    umapc_index *back = NULL;
    CHECK_OK(umapc_index_serialize(index, none, &bytes, &size, &ce_));
    CHECK_OK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, &ce_));
    umapc_index_free(back);
    umapc_free(bytes);
    umapc_index_free(index);
}

static void test_load_rejects_non_files(void) {
    char dir[] = "/tmp/umapc_test_index_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    umapc_index *index = NULL;
    uint8_t *meta = NULL;
    size_t meta_size = 0;
    umapc_error err = {0};
    CHECK(umapc_index_load(dir, &index, &meta, &meta_size, &err) == UMAPC_ERR_IO);
    CHECK(strstr(err.message, "not a regular file") != NULL);
    char fifo[sizeof dir + 16];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    /* A FIFO with no writer would block a plain open-and-read forever. */
    CHECK(umapc_index_load(fifo, &index, &meta, &meta_size, &err) == UMAPC_ERR_IO);
    CHECK(index == NULL);
    unlink(fifo);
    rmdir(dir);
}

typedef struct save_job {
    const umapc_index *index;
    const char *path;
    umapc_blob meta;
    umapc_status status;
} save_job;

static void *save_thread(void *arg) {
    save_job *job = arg;
    for (int i = 0; i < 20 && job->status == UMAPC_OK; i++) {
        job->status = umapc_index_save(job->index, job->path, job->meta, NULL);
    }
    return NULL;
}

/* A symlink planted at the old predictable temp name is left alone; two threads saving to one
 * path both succeed, and the file is one of the two complete versions. */
static void test_save(void) {
    char dir[] = "/tmp/umapc_test_save_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[sizeof dir + 32], victim[sizeof dir + 32], planted[sizeof dir + 64];
    snprintf(path, sizeof path, "%s/index.umapc", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(planted, sizeof planted, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(victim, "w");
    CHECK(fp != NULL);
    fputs("keep me", fp);
    fclose(fp);
    CHECK(symlink(victim, planted) == 0);

    size_t n = 100, dim = 3;
    float *x = uniform_rows(n, dim, 4);
    umapc_index *index = make(UMAPC_BACKEND_EXACT, UMAPC_METRIC_EUCLIDEAN, x, n, dim);
    CHECK(umapc_index_save(index, path, (umapc_blob){NULL, 0}, NULL) == UMAPC_OK);
    fp = fopen(victim, "r");
    char text[16] = {0};
    CHECK(fp != NULL && fgets(text, sizeof text, fp) != NULL && strcmp(text, "keep me") == 0);
    fclose(fp);

    static const uint8_t meta_a[] = "version A", meta_b[] = "the other version, B";
    save_job jobs[2] = {{index, path, {meta_a, sizeof meta_a}, UMAPC_OK},
                        {index, path, {meta_b, sizeof meta_b}, UMAPC_OK}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++) {
        CHECK(pthread_create(&threads[t], NULL, save_thread, &jobs[t]) == 0);
    }
    for (int t = 0; t < 2; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].status == UMAPC_OK);
    }
    umapc_index *back = NULL;
    uint8_t *meta = NULL;
    size_t meta_size = 0;
    CHECK(umapc_index_load(path, &back, &meta, &meta_size, NULL) == UMAPC_OK);
    CHECK((meta_size == sizeof meta_a && memcmp(meta, meta_a, meta_size) == 0) ||
          (meta_size == sizeof meta_b && memcmp(meta, meta_b, meta_size) == 0));
    CHECK(back != NULL && umapc_index_size(back) == n);
    umapc_free(meta);
    umapc_index_free(back);
    umapc_index_free(index);
    free(x);
    /* Only the saved file, the victim and the planted link remain: no temp files left over. */
    unlink(path);
    unlink(planted);
    unlink(victim);
    CHECK(rmdir(dir) == 0);
}

/* Coordinates above the supported magnitude are refused with the limit in the message; just
 * below it, distances stay finite and match a double-precision sum. */
static void test_magnitude(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    size_t dim = 4;
    double limit = umapc_metric_max_magnitude(&m, dim);
    CHECK(limit > 1e18 && limit < 1e19);
    float x[2 * 4] = {0};
    x[0] = 2e19f;
    umapc_index *index = NULL;
    umapc_error err = {0};
    CHECK(umapc_index_create(&m, x, 2, dim, NULL, NULL, &index, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "largest magnitude supported") != NULL);
    for (size_t d = 0; d < dim; d++) {
        x[d] = (float)(0.9 * limit);
        x[dim + d] = (float)(-0.9 * limit);
    }
    for (int b = 0; b < 2; b++) {
        umapc_index_options o;
        umapc_index_options_init(&o);
        o.backend = b ? UMAPC_BACKEND_HNSW : UMAPC_BACKEND_EXACT;
        CHECK(umapc_index_create(&m, x, 2, dim, &o, NULL, &index, NULL) == UMAPC_OK);
        umapc_idx idx[2];
        float dist[2];
        CHECK(umapc_index_query(index, x, 1, 2, NULL, NULL, idx, dist, NULL) == UMAPC_OK);
        double want = sqrt((double)dim) * 2.0 * (double)x[0];
        CHECK(isfinite(dist[1]));
        CHECK_CLOSE(dist[1], want, 1e-3, 0.0);
        umapc_index_free(index);
    }
    m.kind = UMAPC_METRIC_MINKOWSKI;
    m.p = 3.0;
    CHECK(umapc_metric_max_magnitude(&m, dim) < limit);
    m.kind = UMAPC_METRIC_HAMMING;
    CHECK(umapc_metric_max_magnitude(&m, dim) == (double)FLT_MAX);
}

/* A NULL handle: getters read as empty, calls fail cleanly with INVALID_ARGUMENT. */
static void test_null_handle(void) {
    CHECK(umapc_index_size(NULL) == 0 && umapc_index_dim(NULL) == 0);
    CHECK(umapc_index_memory(NULL) == 0 && umapc_index_backend(NULL) == UMAPC_BACKEND_EXACT);
    float row[4] = {0}, dist[1];
    umapc_idx ind[1];
    uint8_t *bytes = NULL;
    size_t size = 0;
    umapc_blob none = {NULL, 0};
    umapc_error e = {0};
    CHECK(umapc_index_add(NULL, row, 1, &(umapc_run_options){1}, NULL, &e) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_index_query(NULL, row, 1, 1, NULL, NULL, ind, dist, &e) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_index_knn_graph(NULL, 1, &(umapc_knn_graph_options){1, 0.99}, NULL, ind, dist,
                                &e) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_index_serialize(NULL, none, &bytes, &size, &e) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_index_save(NULL, "/tmp/umapc-null-index", none, &e) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_index_copy_rows(NULL, row, &e) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(bytes == NULL);
}

/* k above the index size: both backends return every row, nearest first, then -1 / +inf, so
 * a query's shape and padding never depend on the backend (the fuzzer found the exact one
 * refusing instead). */
static void test_k_above_size(void) {
    size_t n = 3, dim = 4, k = 5;
    float *x = uniform_rows(n + 1, dim, 7);
    umapc_backend backends[] = {UMAPC_BACKEND_EXACT, UMAPC_BACKEND_HNSW};
    umapc_idx ids[2][5];
    float dists[2][5];
    for (int b = 0; b < 2; b++) {
        umapc_index *index = make(backends[b], UMAPC_METRIC_EUCLIDEAN, x, n, dim);
        umapc_error err = {0};
        CHECK(umapc_index_query(index, x + n * dim, 1, k, NULL, NULL, ids[b], dists[b], &err) ==
              UMAPC_OK);
        for (size_t j = 0; j < k; j++) {
            CHECK(j < n ? ids[b][j] >= 0 && (size_t)ids[b][j] < n : ids[b][j] == -1);
            CHECK(j < n ? isfinite(dists[b][j]) : isinf(dists[b][j]));
            CHECK(j == 0 || !(dists[b][j] < dists[b][j - 1]));
        }
        umapc_index_free(index);
    }
    CHECK(memcmp(ids[0], ids[1], sizeof ids[0]) == 0);
    free(x);
}

/* An HNSW index linked from a k-NN graph: the handle's size, a serialise round trip that
 * answers the same, and the exact backend ignoring the graph. */
static void test_create_from_graph(void) {
    size_t n = 800, dim = 6, k = 12, nq = 20;
    float *x = uniform_rows(n + nq, dim, 21);
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_idx *knn = malloc(n * k * sizeof *knn);
    float *kd = malloc(n * k * sizeof *kd);
    CHECK(umapc_exact_knn_graph(&m, x, n, dim, k, NULL, NULL, knn, kd, NULL) == UMAPC_OK);
    umapc_index_options o;
    umapc_index_options_init(&o);
    o.backend = UMAPC_BACKEND_HNSW;
    umapc_index *index = NULL, *back = NULL, *exact = NULL;
    CHECK(umapc_index_create_from_graph(&m, x, n, dim, &o, knn, k, NULL, &index, NULL) == UMAPC_OK);
    CHECK(umapc_index_size(index) == n && umapc_index_backend(index) == UMAPC_BACKEND_HNSW);
    uint8_t *buf = NULL, *meta = NULL;
    size_t size = 0, meta_size = 0;
    CHECK(umapc_index_serialize(index, (umapc_blob){NULL, 0}, &buf, &size, NULL) == UMAPC_OK);
    CHECK(umapc_index_deserialize(buf, size, &back, &meta, &meta_size, NULL) == UMAPC_OK);
    umapc_idx ia[20 * 5], ib[20 * 5];
    float da[20 * 5], db[20 * 5];
    CHECK(umapc_index_query(index, x + n * dim, nq, 5, NULL, NULL, ia, da, NULL) == UMAPC_OK);
    CHECK(umapc_index_query(back, x + n * dim, nq, 5, NULL, NULL, ib, db, NULL) == UMAPC_OK);
    CHECK(memcmp(ia, ib, sizeof ia) == 0 && memcmp(da, db, sizeof da) == 0);
    knn[5] = (umapc_idx)n; /* out of range: refused by HNSW, ignored by the exact backend */
    umapc_index *bad = (umapc_index *)1;
    CHECK(umapc_index_create_from_graph(&m, x, n, dim, &o, knn, k, NULL, &bad, NULL) ==
              UMAPC_ERR_INVALID_ARGUMENT &&
          bad == NULL);
    o.backend = UMAPC_BACKEND_EXACT;
    CHECK(umapc_index_create_from_graph(&m, x, n, dim, &o, knn, k, NULL, &exact, NULL) == UMAPC_OK);
    umapc_free(buf);
    umapc_free(meta);
    umapc_index_free(index);
    umapc_index_free(back);
    umapc_index_free(exact);
    free(knn);
    free(kd);
    free(x);
}

/* HNSW rows come back as given where the index keeps them so: lossless 8-bit codes of pixel rows
 * (decoded exactly) and manhattan's float rows; cosine's are normalised and refused. */
static void test_hnsw_rows_as_given(void) {
    size_t n = 40, dim = 6;
    float *pixels = malloc(n * dim * sizeof *pixels), *wide = malloc(n * dim * sizeof *wide);
    float *out = malloc(n * dim * sizeof *out);
    for (size_t i = 0; i < n * dim; i++) {
        pixels[i] = (float)((i * 37) % 256);
        wide[i] = (float)i * 0.37f - 20.0f;
    }
    umapc_metric_kind kinds[3] = {UMAPC_METRIC_EUCLIDEAN, UMAPC_METRIC_MANHATTAN,
                                  UMAPC_METRIC_COSINE};
    const float *data[3] = {pixels, wide, wide};
    for (int m = 0; m < 3; m++) {
        umapc_index *index = make(UMAPC_BACKEND_HNSW, kinds[m], data[m], n, dim);
        umapc_error err = {0};
        if (m < 2) {
            CHECK(umapc_index_rows_as_given(index));
            CHECK_OK(umapc_index_copy_rows(index, out, &ce_));
            CHECK(memcmp(out, data[m], n * dim * sizeof *out) == 0);
        } else {
            CHECK(!umapc_index_rows_as_given(index));
            CHECK(umapc_index_copy_rows(index, out, &err) == UMAPC_ERR_INVALID_ARGUMENT);
        }
        umapc_index_free(index);
    }
    free(pixels);
    free(wide);
    free(out);
}

int main(void) {
    test_null_handle();
    test_hnsw_rows_as_given();
    test_huge_ef();
    test_k_above_size();
    test_interrupted_add();
    test_load_validates_content();
    test_dot_tiny_rows();
    test_load_rejects_non_files();
    test_save();
    test_magnitude();
    test_create_from_graph();
    CHECK_DONE();
}
