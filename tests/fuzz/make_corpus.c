/* Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): small saved indexes
 * of each backend and row storage, under several metrics, plus truncated and corrupted copies for
 * fuzz_index_load; one input per entry point for fuzz_arrays. Seeds give the fuzzer valid
 * structure to mutate, which random bytes would take it hours to find (a checksummed header, a
 * consistent HNSW graph).
 *
 *   cc -std=c11 -Iinclude -Isrc/core -Isrc/knn -Isrc/embed tests/fuzz/make_corpus.c \
 *       <the library objects> -lm
 *   ./a.out tests/fuzz/corpus
 */
#include "internal.h"
#include "umapc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *dir, const char *target, const char *name, const uint8_t *bytes,
                       size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* Rows a built index can hold under every metric: nonnegative (hellinger) small integers
 * (lossless codes), with some structure so the graph is not trivial. */
static float *rows(size_t n, size_t dim, uint64_t seed) {
    float *x = malloc(n * dim * sizeof *x);
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n * dim; i++) {
        x[i] = (float)(umapc_rng_below(&rng, 16) + (i / dim) % 3 * 20);
    }
    return x;
}

typedef struct index_seed {
    const char *name;
    umapc_backend backend;
    umapc_metric_kind kind;
    double p;
    int codes;
    size_t n, dim;
} index_seed;

static uint8_t *serialized(const index_seed *s, size_t *size) {
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = s->kind;
    m.p = s->p;
    umapc_index_options o;
    umapc_index_options_init(&o);
    o.backend = s->backend;
    o.hnsw.n_threads = 1;
    o.hnsw.M = 4;
    o.hnsw.ef_construction = 16;
    o.hnsw.lossless_codes = s->codes;
    float *x = rows(s->n, s->dim, 1);
    umapc_index *index = NULL;
    umapc_error err = {0};
    const uint8_t meta[] = "{\"seed\": 1}";
    umapc_blob blob = {meta, sizeof meta - 1};
    uint8_t *bytes = NULL;
    if (umapc_index_create(&m, x, s->n, s->dim, &o, NULL, &index, &err) != UMAPC_OK ||
        umapc_index_serialize(index, blob, &bytes, size, &err) != UMAPC_OK) {
        fprintf(stderr, "%s: %s\n", s->name, err.message);
        exit(1);
    }
    umapc_index_free(index);
    free(x);
    return bytes;
}

static void index_seeds(const char *dir) {
    static const index_seed seeds[] = {
        {"exact-euclidean", UMAPC_BACKEND_EXACT, UMAPC_METRIC_EUCLIDEAN, 2.0, 0, 12, 4},
        {"exact-minkowski-p3", UMAPC_BACKEND_EXACT, UMAPC_METRIC_MINKOWSKI, 3.0, 0, 8, 3},
        {"exact-hellinger", UMAPC_BACKEND_EXACT, UMAPC_METRIC_HELLINGER, 2.0, 0, 6, 5},
        {"hnsw-euclidean-floats", UMAPC_BACKEND_HNSW, UMAPC_METRIC_EUCLIDEAN, 2.0, 0, 30, 4},
        {"hnsw-euclidean-codes", UMAPC_BACKEND_HNSW, UMAPC_METRIC_EUCLIDEAN, 2.0, 1, 30, 6},
        {"hnsw-cosine", UMAPC_BACKEND_HNSW, UMAPC_METRIC_COSINE, 2.0, 0, 20, 3},
        {"hnsw-manhattan", UMAPC_BACKEND_HNSW, UMAPC_METRIC_MANHATTAN, 2.0, 0, 16, 2},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        size_t size = 0;
        uint8_t *bytes = serialized(&seeds[i], &size);
        char name[128];
        snprintf(name, sizeof name, "%s.idx", seeds[i].name);
        write_file(dir, "fuzz_index_load", name, bytes, size);
        if (seeds[i].backend == UMAPC_BACKEND_HNSW) {
            /* Truncated mid-graph, one flipped bit in a link (checksum left stale) and a header
             * with an unknown version: each must be refused. */
            snprintf(name, sizeof name, "%s-truncated.idx", seeds[i].name);
            write_file(dir, "fuzz_index_load", name, bytes, size / 2);
            bytes[size - 40] ^= 0x10;
            snprintf(name, sizeof name, "%s-bitflip.idx", seeds[i].name);
            write_file(dir, "fuzz_index_load", name, bytes, size);
        }
        free(bytes);
    }
    static const uint8_t bad_version[72] = {'U', 'M', 'A', 'P', 'C', 'I', 'D', 'X', 9};
    write_file(dir, "fuzz_index_load", "bad-version.idx", bad_version, sizeof bad_version);
}

/* fuzz_arrays inputs: op byte, shape (n, dim, k, metric, p, flags), op options, then value
 * bytes (indices into the target's table of awkward floats; 0..11 are ordinary values). */
static void array_seed(const char *dir, const char *name, const uint8_t *head, size_t head_size,
                       size_t values, uint64_t seed) {
    uint8_t buf[4096];
    memcpy(buf, head, head_size);
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < values && head_size + i < sizeof buf; i++) {
        buf[head_size + i] = (uint8_t)umapc_rng_below(&rng, 12);
    }
    size_t size = head_size + values < sizeof buf ? head_size + values : sizeof buf;
    write_file(dir, "fuzz_arrays", name, buf, size);
}

static void arrays_seeds(const char *dir) {
    /*                    op  n   dim k  metric p  flags  options... */
    const uint8_t exact[] = {0, 20, 3, 4, 0, 0, 2, 3};
    const uint8_t graph[] = {1, 20, 3, 5, 5, 0, 0, 0};
    const uint8_t exact_index[] = {2, 24, 4, 3, 2, 0, 0, 0, 0, 0};
    const uint8_t hnsw_index[] = {2, 30, 4, 3, 0, 0, 6, 4, 16, 1};
    const uint8_t nndescent[] = {3, 40, 3, 6, 0, 0, 0, 1, 2, 8, 8, 4, 0, 1};
    const uint8_t hnsw_graph[] = {4, 30, 3, 4, 5, 0, 4, 4, 16, 0};
    const uint8_t fuzzy[] = {5, 20, 1, 4, 0, 0, 6, 0, 0, 0, 0, 0, 64};
    const uint8_t raw_graph[] = {6, 10, 1, 30, 0, 0};
    const uint8_t distances[] = {7, 6, 4, 1, 6, 0, 0, 3};
    array_seed(dir, "exact-search", exact, sizeof exact, 200, 1);
    array_seed(dir, "exact-knn-graph", graph, sizeof graph, 80, 2);
    array_seed(dir, "index-exact", exact_index, sizeof exact_index, 140, 3);
    array_seed(dir, "index-hnsw-codes", hnsw_index, sizeof hnsw_index, 160, 4);
    array_seed(dir, "nndescent", nndescent, sizeof nndescent, 140, 5);
    array_seed(dir, "hnsw-knn-graph", hnsw_graph, sizeof hnsw_graph, 110, 6);
    array_seed(dir, "fuzzy-spectral-layout", fuzzy, sizeof fuzzy, 260, 7);
    array_seed(dir, "raw-graph", raw_graph, sizeof raw_graph, 200, 8);
    array_seed(dir, "distances", distances, sizeof distances, 60, 9);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    index_seeds(argv[1]);
    arrays_seeds(argv[1]);
    return 0;
}
