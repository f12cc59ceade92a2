/* libFuzzer target: arbitrary bytes into the index file loader (umapc_index_deserialize, the parser
 * behind umapc_index_load and unpickling). A load must fail with UMAPC_ERR_CORRUPT (or
 * OUT_OF_MEMORY) or give an index that answers queries, builds its k-NN graph and saves back to
 * the same bytes; never a crash, a leak or a hang.
 *
 * Each input is tried three ways: as given (header, size and checksum checks), with the checksum
 * recomputed (so mutations reach the field and graph validation instead of stopping at the
 * checksum) and with the payload size also fitted to the input length (so inserted or removed
 * bytes reach the HNSW parser's own size checks). */
#include "internal.h"
#include "umapc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES   64u
#define CHECKSUM_BYTES 8u

/* A failed invariant: print it and abort so libFuzzer saves the input as a crash. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void put_u64(uint8_t *at, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        at[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_u64(const uint8_t *at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)at[i] << (8 * i);
    }
    return v;
}

static void reseal(uint8_t *bytes, size_t size) {
    size_t body = size - CHECKSUM_BYTES;
    put_u64(bytes + body, umapc_index_checksum(bytes, body));
}

/* Queries with the index's own first rows shifted a little (finite whatever was stored, since a
 * loaded index holds finite rows only) must return ids below size(), sorted distances, and -1
 * padding only after the real results. */
static void exercise_queries(const umapc_index *index) {
    size_t n = umapc_index_size(index), dim = umapc_index_dim(index);
    size_t k = n < 4 ? n + 1 : 4, nq = 2;
    float *queries = calloc(nq * dim, sizeof *queries);
    umapc_idx *ids = malloc(nq * k * sizeof *ids);
    float *dists = malloc(nq * k * sizeof *dists);
    REQUIRE(queries != NULL && ids != NULL && dists != NULL);
    for (size_t i = 0; i < nq * dim; i++) {
        queries[i] = (float)(i % 7) * 0.25f;
    }
    umapc_query_options q;
    umapc_query_options_init(&q);
    q.n_threads = 1;
    umapc_error err = {0};
    /* Small nonnegative queries are in every metric's domain except where the stored parameters
     * shrink it (minkowski with a large p refuses magnitudes whose p-th powers overflow float32):
     * that refusal is a clean argument error; anything else would be a bug. */
    /* the newer metrics' domains (poincare's unit ball, the distributions' sums) may refuse the
     * queries themselves: a clean refusal, checked the way the query checks them */
    umapc_error domain = {0};
    umapc_metric metric = umapc_index_metric(index);
    if (umapc_metric_check_data(&metric, queries, nq, umapc_index_dim(index), &domain) !=
        UMAPC_OK) {
        free(queries);
        free(ids);
        free(dists);
        return;
    }
    umapc_status st = umapc_index_query(index, queries, nq, k, &q, NULL, ids, dists, &err);
    if (st == UMAPC_ERR_INVALID_ARGUMENT && strstr(err.message, "largest magnitude") != NULL) {
        free(queries);
        free(ids);
        free(dists);
        return;
    }
    if (st != UMAPC_OK) {
        fprintf(stderr, "query refused: %s\n", err.message);
    }
    REQUIRE(st == UMAPC_OK);
    for (size_t r = 0; r < nq; r++) {
        for (size_t j = 0; j < k; j++) {
            umapc_idx id = ids[r * k + j];
            REQUIRE(id >= -1 && (id == -1 || (size_t)id < n));
            REQUIRE(j == 0 || id == -1 || ids[r * k + j - 1] != -1);
            REQUIRE(j == 0 || id == -1 || !(dists[r * k + j] < dists[r * k + j - 1]));
        }
    }
    free(queries);
    free(ids);
    free(dists);
}

static void exercise_graph(const umapc_index *index) {
    size_t n = umapc_index_size(index);
    size_t k = n < 3 ? n : 3;
    umapc_idx *ids = malloc(n * k * sizeof *ids);
    float *dists = malloc(n * k * sizeof *dists);
    REQUIRE(ids != NULL && dists != NULL);
    umapc_error err = {0};
    umapc_status st = umapc_index_knn_graph(index, k, NULL, NULL, ids, dists, &err);
    REQUIRE(st == UMAPC_OK);
    for (size_t i = 0; i < n * k; i++) {
        REQUIRE(ids[i] >= -1 && (ids[i] == -1 || (size_t)ids[i] < n));
    }
    free(ids);
    free(dists);
}

/* What loads must save to the bytes it came from: the format has one encoding per index. */
static void check_round_trip(const umapc_index *index, const uint8_t *meta, size_t meta_size,
                             const uint8_t *data, size_t size) {
    umapc_blob blob = {meta, meta_size};
    uint8_t *again = NULL;
    size_t again_size = 0;
    umapc_error err = {0};
    REQUIRE(umapc_index_serialize(index, blob, &again, &again_size, &err) == UMAPC_OK);
    REQUIRE(again_size == size && memcmp(again, data, size) == 0);
    free(again);
}

static void try_load(const uint8_t *data, size_t size) {
    umapc_index *index = NULL;
    uint8_t *meta = NULL;
    size_t meta_size = 0;
    umapc_error err = {0};
    umapc_status st = umapc_index_deserialize(data, size, &index, &meta, &meta_size, &err);
    if (st != UMAPC_OK) {
        REQUIRE(st == UMAPC_ERR_CORRUPT || st == UMAPC_ERR_OUT_OF_MEMORY);
        REQUIRE(index == NULL && meta == NULL && err.status == st && err.message[0] != '\0');
        return;
    }
    REQUIRE(index != NULL && umapc_index_size(index) > 0 && umapc_index_dim(index) > 0);
    REQUIRE((meta == NULL) == (meta_size == 0));
    exercise_queries(index);
    exercise_graph(index);
    check_round_trip(index, meta, meta_size, data, size);
    umapc_free(meta);
    umapc_index_free(index);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_load(data, size);
    if (size < HEADER_BYTES + CHECKSUM_BYTES) {
        return 0;
    }
    uint8_t *copy = malloc(size);
    REQUIRE(copy != NULL);
    memcpy(copy, data, size);
    reseal(copy, size);
    try_load(copy, size);
    uint64_t meta = get_u64(copy + 56), room = size - HEADER_BYTES - CHECKSUM_BYTES;
    if (meta <= room) {
        put_u64(copy + 48, room - meta);
        reseal(copy, size);
        try_load(copy, size);
    }
    free(copy);
    return 0;
}
