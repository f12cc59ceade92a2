/* The index behind umapc.NNIndex: one handle over the exact and HNSW backends, and the index file
 * format.
 *
 * File format (all integers little-endian):
 *   magic      8 bytes  "UMAPCIDX"
 *   version    u32      UMAPC_INDEX_FORMAT_VERSION
 *   backend    u32
 *   metric     u32      umapc_metric_kind
 *   reserved   u32      0
 *   p          f64      minkowski exponent
 *   n, dim     u64, u64
 *   payload    u64      byte count of the payload
 *   meta       u64      byte count of the caller's metadata
 *   params              the metric's params (seuclidean's V, wminkowski's w, mahalanobis' VI,
 *                       kantorovich's and sinkhorn's cost and scalar, ordinal's and count's
 *                       scalars): umapc_metric_params_needed(metric, dim) float32, none for the
 *                       other metrics (whose files are laid out as before these metrics existed)
 *   meta                the caller's bytes (umapc_blob), opaque here
 *   payload             exact: n x dim float32 rows; hnsw: umapc_hnsw_serialize's bytes
 *   checksum   u64      index_checksum of everything before it
 */
#include "exact_kernels.h"
#include "hnsw_internal.h"
#include "internal.h"
#include "umapc/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UMAPC_INDEX_FORMAT_VERSION 1u
#define HEADER_BYTES               64u
#define CHECKSUM_BYTES             8u

static const char index_magic[8] = {'U', 'M', 'A', 'P', 'C', 'I', 'D', 'X'};

struct umapc_index {
    umapc_metric metric; /* its params point at params */
    float *params;
    umapc_backend backend;
    size_t n;
    size_t dim;
    size_t capacity; /* rows allocated in exact_rows */
    float *exact_rows;
    umapc_hnsw *hnsw;
};

void umapc_index_options_init(umapc_index_options *opts) {
    opts->backend = UMAPC_BACKEND_EXACT;
    umapc_hnsw_options_init(&opts->hnsw);
}

static int rows_are_finite(const float *rows, size_t count) {
    float acc = 0.0f;
    for (size_t i = 0; i < count; i++) {
        acc += rows[i] * 0.0f; /* NaN or inf anywhere makes acc NaN */
    }
    return acc == 0.0f;
}

static umapc_status check_rows(const umapc_metric *metric, const float *rows, size_t n, size_t dim,
                               const char *what, umapc_error *err) {
    if (rows == NULL || n == 0 || dim == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s is empty (%zu rows of %zu)", what, n,
                          dim);
    }
    size_t count = umapc_mul_size(n, dim);
    if (count == SIZE_MAX || n > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s is too large (%zu x %zu)", what, n,
                          dim);
    }
    if (!rows_are_finite(rows, count)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s contains NaN or infinity", what);
    }
    return umapc_metric_check_data(metric, rows, n, dim, err);
}

static umapc_status reserve_exact_rows(umapc_index *index, size_t rows, umapc_error *err) {
    if (rows <= index->capacity) {
        return UMAPC_OK;
    }
    size_t capacity = index->capacity ? index->capacity : 1024;
    while (capacity < rows) {
        capacity *= 2;
    }
    size_t bytes = umapc_mul_size(umapc_mul_size(capacity, index->dim), sizeof(float));
    float *grown = bytes == SIZE_MAX ? NULL : realloc(index->exact_rows, bytes);
    if (grown == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate %zu rows of %zu floats",
                          capacity, index->dim);
    }
    index->exact_rows = grown;
    index->capacity = capacity;
    return UMAPC_OK;
}

/* The exact backend keeps its rows in search form, so that a query copies only itself. */
static umapc_status append_exact_rows(umapc_index *index, const float *data, size_t n,
                                      umapc_error *err) {
    umapc_status status = reserve_exact_rows(index, index->n + n, err);
    if (status) {
        return status;
    }
    float *owned = NULL;
    const float *rows = metric_search_rows(&index->metric, data, n, index->dim, &owned);
    if (rows == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot normalise %zu rows", n);
    }
    memcpy(index->exact_rows + index->n * index->dim, rows, n * index->dim * sizeof(float));
    free(owned);
    index->n += n;
    return UMAPC_OK;
}

static umapc_index *index_alloc(const umapc_metric *metric, umapc_backend backend, size_t dim) {
    umapc_index *index = calloc(1, sizeof *index);
    if (index != NULL) {
        int failed;
        index->metric = *metric;
        index->params = metric_own_params(&index->metric, &failed);
        index->backend = backend;
        index->dim = dim;
        if (failed) {
            free(index);
            index = NULL;
        }
    }
    return index;
}

umapc_status umapc_index_create(const umapc_metric *metric, const float *data, size_t n, size_t dim,
                                const umapc_index_options *opts, const umapc_progress *progress,
                                umapc_index **out, umapc_error *err) {
    return umapc_index_create_from_graph(metric, data, n, dim, opts, NULL, 0, progress, out, err);
}

umapc_status umapc_index_create_from_graph(const umapc_metric *metric, const float *data, size_t n,
                                           size_t dim, const umapc_index_options *opts,
                                           const umapc_idx *knn_indices, size_t k,
                                           const umapc_progress *progress, umapc_index **out,
                                           umapc_error *err) {
    umapc_index_options defaults;
    if (opts == NULL) {
        umapc_index_options_init(&defaults);
        opts = &defaults;
    }
    *out = NULL;
    umapc_status status = umapc_metric_validate_dim(metric, dim, err);
    if (status) {
        return status;
    }
    status = check_rows(metric, data, n, dim, "data", err);
    if (status) {
        return status;
    }
    if (opts->backend != UMAPC_BACKEND_EXACT && opts->backend != UMAPC_BACKEND_HNSW) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "unknown backend %d",
                          (int)opts->backend);
    }
    umapc_index *index = index_alloc(metric, opts->backend, dim);
    if (index == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate the index");
    }
    if (opts->backend == UMAPC_BACKEND_EXACT) {
        status = append_exact_rows(index, data, n, err);
    } else {
        status =
            knn_indices != NULL
                ? umapc_hnsw_build_from_graph(metric, data, n, dim, &opts->hnsw, knn_indices, k,
                                              progress, &index->hnsw, err)
                : umapc_hnsw_build(metric, data, n, dim, &opts->hnsw, progress, &index->hnsw, err);
        index->n = n;
    }
    if (status) {
        umapc_index_free(index);
        return status;
    }
    *out = index;
    return UMAPC_OK;
}

/* Every call on an index refuses a NULL handle the same way. */
static umapc_status check_handle(const umapc_index *index, const char *call, umapc_error *err) {
    return index != NULL ? UMAPC_OK
                         : umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "%s: NULL index", call);
}

umapc_status umapc_index_add(umapc_index *index, const float *data, size_t n,
                             const umapc_run_options *opts, const umapc_progress *progress,
                             umapc_error *err) {
    umapc_status status = check_handle(index, "add", err);
    if (status) {
        return status;
    }
    status = check_rows(&index->metric, data, n, index->dim, "new data", err);
    if (status) {
        return status;
    }
    if ((size_t)INT32_MAX - index->n < n) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "index would exceed 2^31 - 1 rows");
    }
    if (index->backend == UMAPC_BACKEND_EXACT) {
        status = append_exact_rows(index, data, n, err);
    } else {
        size_t before = index->n;
        status = umapc_hnsw_add(index->hnsw, data, n, opts, progress, err);
        /* An interrupted or failed insertion keeps the batches it finished linked (unlinking them
         * would cost the back-links they displaced), so the size follows the graph and the
         * message says how many rows made it in. */
        index->n = umapc_hnsw_size(index->hnsw);
        if (status != UMAPC_OK && err != NULL) {
            char detail[sizeof err->message];
            memcpy(detail, err->message, sizeof detail);
            umapc_fail(err, status, "%s (%zu of %zu new rows were added)", detail,
                       index->n - before, n);
        }
    }
    return status;
}

/* Exact search refuses k above the row count; the index answers as its HNSW backend does, with
 * the n real neighbours followed by -1 / +inf, so a query's shape never depends on the backend. */
static umapc_status query_exact(const umapc_index *index, const float *rows, size_t nq, size_t k,
                                const umapc_query_options *opts, const umapc_progress *progress,
                                umapc_idx *indices, float *distances, umapc_error *err) {
    umapc_exact_options exact_opts;
    umapc_exact_options_init(&exact_opts);
    exact_opts.n_threads = opts->n_threads;
    size_t found = k < index->n ? k : index->n;
    umapc_idx *found_ids = indices;
    float *found_dists = distances;
    if (found < k) {
        found_ids = malloc(umapc_mul_size(nq, found) * sizeof *found_ids);
        found_dists = malloc(umapc_mul_size(nq, found) * sizeof *found_dists);
        if (found_ids == NULL || found_dists == NULL) {
            free(found_ids);
            free(found_dists);
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "query: cannot hold %zu results", nq);
        }
    }
    umapc_status status = exact_search_with(
        exact_kernel_select(), &index->metric, index->exact_rows, index->n, index->dim, rows, nq,
        found, opts->filter_mask, &exact_opts, progress, found_ids, found_dists, err);
    if (found < k) {
        for (size_t q = 0; status == UMAPC_OK && q < nq; q++) {
            for (size_t j = 0; j < k; j++) {
                indices[q * k + j] = j < found ? found_ids[q * found + j] : -1;
                distances[q * k + j] = j < found ? found_dists[q * found + j] : INFINITY;
            }
        }
        free(found_ids);
        free(found_dists);
    }
    return status;
}

umapc_status umapc_index_query(const umapc_index *index, const float *queries, size_t nq, size_t k,
                               const umapc_query_options *opts, const umapc_progress *progress,
                               umapc_idx *indices, float *distances, umapc_error *err) {
    umapc_query_options defaults;
    if (opts == NULL) {
        umapc_query_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status status = check_handle(index, "query", err);
    if (status) {
        return status;
    }
    status = check_rows(&index->metric, queries, nq, index->dim, "queries", err);
    if (status) {
        return status;
    }
    if (k == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "k must be at least 1");
    }
    if (index->backend == UMAPC_BACKEND_HNSW) {
        return umapc_hnsw_query(index->hnsw, queries, nq, k, opts, progress, indices, distances,
                                err);
    }
    float *owned = NULL;
    const float *rows = metric_search_rows(&index->metric, queries, nq, index->dim, &owned);
    if (rows == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot normalise %zu queries", nq);
    }
    status = query_exact(index, rows, nq, k, opts, progress, indices, distances, err);
    free(owned);
    return status;
}

umapc_status umapc_index_knn_graph(const umapc_index *index, size_t k,
                                   const umapc_knn_graph_options *opts,
                                   const umapc_progress *progress, umapc_idx *indices,
                                   float *distances, umapc_error *err) {
    umapc_status status = check_handle(index, "knn_graph", err);
    if (status) {
        return status;
    }
    if (k == 0 || k > index->n) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "n_neighbors=%zu must be between 1 and the number of points (%zu)", k,
                          index->n);
    }
    if (index->backend == UMAPC_BACKEND_EXACT) {
        umapc_exact_options exact_opts;
        umapc_exact_options_init(&exact_opts);
        exact_opts.n_threads = opts != NULL ? opts->n_threads : 0;
        return exact_knn_graph_with(exact_kernel_select(), &index->metric, index->exact_rows,
                                    index->n, index->dim, k, &exact_opts, progress, indices,
                                    distances, err);
    }
    return umapc_hnsw_knn_graph(index->hnsw, k, opts, progress, indices, distances, err);
}

size_t umapc_index_size(const umapc_index *index) {
    return index ? index->n : 0;
}

size_t umapc_index_dim(const umapc_index *index) {
    return index ? index->dim : 0;
}

umapc_backend umapc_index_backend(const umapc_index *index) {
    return index ? index->backend : UMAPC_BACKEND_EXACT;
}

umapc_metric umapc_index_metric(const umapc_index *index) {
    umapc_metric none;
    umapc_metric_init(&none);
    return index ? index->metric : none;
}

size_t umapc_index_memory(const umapc_index *index) {
    if (index == NULL) {
        return 0;
    }
    size_t bytes = sizeof *index;
    if (index->backend == UMAPC_BACKEND_EXACT) {
        bytes += index->capacity * index->dim * sizeof(float);
    } else {
        bytes += umapc_hnsw_memory(index->hnsw);
    }
    return bytes;
}

void umapc_index_free(umapc_index *index) {
    if (index == NULL) {
        return;
    }
    free(index->exact_rows);
    umapc_hnsw_free(index->hnsw);
    free(index->params);
    free(index);
}

/* ---- serialisation ---------------------------------------------------------------------- */

/* A 64-bit checksum that reads 32 bytes per step in four independent lanes, so checking a large
 * index costs about as much as reading it. Not cryptographic: it catches truncation, bit rot and
 * edits, not forgery. */
uint64_t umapc_index_checksum(const uint8_t *bytes, size_t size) {
    const uint64_t prime = 0x9e3779b97f4a7c15ULL;
    uint64_t lanes[4] = {prime, prime ^ 1, prime ^ 2, prime ^ 3};
    size_t i = 0;
    for (; i + 32 <= size; i += 32) {
        for (int l = 0; l < 4; l++) {
            uint64_t word;
            memcpy(&word, bytes + i + 8 * l, 8);
            lanes[l] = (lanes[l] ^ word) * 0xff51afd7ed558ccdULL;
            lanes[l] ^= lanes[l] >> 29;
        }
    }
    uint64_t h =
        umapc_hash64(lanes[0] ^ umapc_hash64(lanes[1] ^ umapc_hash64(lanes[2] ^ lanes[3])));
    for (; i < size; i++) {
        h = umapc_hash64(h ^ bytes[i]);
    }
    return umapc_hash64(h ^ (uint64_t)size);
}

static void put_u32(uint8_t *at, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        at[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put_u64(uint8_t *at, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        at[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *at) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)at[i] << (8 * i);
    }
    return v;
}

static uint64_t get_u64(const uint8_t *at) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)at[i] << (8 * i);
    }
    return v;
}

static size_t payload_size(const umapc_index *index) {
    if (index->backend == UMAPC_BACKEND_EXACT) {
        return index->n * index->dim * sizeof(float);
    }
    return umapc_hnsw_serialized_size(index->hnsw);
}

static void write_header(const umapc_index *index, size_t payload, size_t meta, uint8_t *at) {
    uint64_t p_bits;
    memcpy(at, index_magic, 8);
    put_u32(at + 8, UMAPC_INDEX_FORMAT_VERSION);
    put_u32(at + 12, (uint32_t)index->backend);
    put_u32(at + 16, (uint32_t)index->metric.kind);
    put_u32(at + 20, 0);
    memcpy(&p_bits, &index->metric.p, 8);
    put_u64(at + 24, p_bits);
    put_u64(at + 32, index->n);
    put_u64(at + 40, index->dim);
    put_u64(at + 48, payload);
    put_u64(at + 56, meta);
}

static umapc_status write_payload(const umapc_index *index, uint8_t *at, size_t payload,
                                  umapc_error *err) {
    if (index->backend == UMAPC_BACKEND_EXACT) {
        memcpy(at, index->exact_rows, payload);
        return UMAPC_OK;
    }
    return umapc_hnsw_serialize(index->hnsw, at, payload, err);
}

umapc_status umapc_index_serialize(const umapc_index *index, umapc_blob meta, uint8_t **buffer,
                                   size_t *size, umapc_error *err) {
    umapc_status status = check_handle(index, "serialize", err);
    if (status) {
        return status;
    }
    if (index->metric.kind == UMAPC_METRIC_CUSTOM) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "an index with a custom metric cannot be saved or serialised: its "
                          "distance is a function pointer, valid only in this process");
    }
    size_t payload = payload_size(index);
    size_t params = index->metric.n_params * sizeof(float);
    size_t body = HEADER_BYTES + params + meta.size + payload;
    uint8_t *bytes = malloc(body + CHECKSUM_BYTES);
    if (bytes == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes",
                          body + CHECKSUM_BYTES);
    }
    write_header(index, payload, meta.size, bytes);
    if (params) {
        memcpy(bytes + HEADER_BYTES, index->params, params);
    }
    if (meta.size) {
        memcpy(bytes + HEADER_BYTES + params, meta.data, meta.size);
    }
    status = write_payload(index, bytes + HEADER_BYTES + params + meta.size, payload, err);
    if (status) {
        free(bytes);
        return status;
    }
    put_u64(bytes + body, umapc_index_checksum(bytes, body));
    *buffer = bytes;
    *size = body + CHECKSUM_BYTES;
    return UMAPC_OK;
}

typedef struct index_header {
    umapc_backend backend;
    umapc_metric metric; /* params NULL: read_params fills them */
    const uint8_t *params_at;
    size_t n;
    size_t dim;
    size_t payload;
    size_t meta;
} index_header;

static umapc_status corrupt(umapc_error *err, const char *what) {
    return umapc_fail(err, UMAPC_ERR_CORRUPT, "not a valid umapc index: %s", what);
}

static umapc_status read_header(const uint8_t *buffer, size_t size, index_header *h,
                                umapc_error *err) {
    if (size < HEADER_BYTES + CHECKSUM_BYTES || memcmp(buffer, index_magic, 8) != 0) {
        return corrupt(err, "missing header");
    }
    uint32_t version = get_u32(buffer + 8);
    if (version != UMAPC_INDEX_FORMAT_VERSION) {
        return umapc_fail(err, UMAPC_ERR_CORRUPT,
                          "umapc index format version %u is not supported (this build reads %u)",
                          version, UMAPC_INDEX_FORMAT_VERSION);
    }
    h->payload = get_u64(buffer + 48);
    h->meta = get_u64(buffer + 56);
    uint32_t kind = get_u32(buffer + 16);
    size_t dim = get_u64(buffer + 40);
    size_t n_params =
        kind < UMAPC_METRIC_COUNT_ ? umapc_metric_params_needed((umapc_metric_kind)kind, dim) : 0;
    size_t params = umapc_mul_size(n_params, sizeof(float));
    size_t body = size - CHECKSUM_BYTES;
    if (h->payload > body || h->meta > body || params > body ||
        h->payload + h->meta + params != body - HEADER_BYTES) {
        return corrupt(err, "truncated or extended (size does not match the header)");
    }
    if (get_u64(buffer + body) != umapc_index_checksum(buffer, body)) {
        return corrupt(err, "checksum mismatch");
    }
    uint32_t backend = get_u32(buffer + 12);
    uint64_t p_bits = get_u64(buffer + 24);
    if (backend > UMAPC_BACKEND_HNSW || kind >= UMAPC_METRIC_COUNT_) {
        return corrupt(err, "unknown backend or metric");
    }
    /* Writers put 0 there: anything else is not a file of this format version, and accepting it
     * would give one index two encodings. */
    if (get_u32(buffer + 20) != 0) {
        return corrupt(err, "reserved header field is not zero");
    }
    h->backend = (umapc_backend)backend;
    umapc_metric_init(&h->metric);
    h->metric.kind = (umapc_metric_kind)kind;
    memcpy(&h->metric.p, &p_bits, 8);
    h->metric.n_params = n_params;
    h->params_at = buffer + HEADER_BYTES;
    h->n = get_u64(buffer + 32);
    h->dim = dim;
    if (h->n == 0 || h->dim == 0 || h->n > (size_t)INT32_MAX) {
        return corrupt(err, "bad metric parameters or shape");
    }
    return UMAPC_OK;
}

/* The metric's parameters, copied out of the buffer (which need not be aligned for float) into
 * *owned, and the metric checked as create checks it. */
static umapc_status read_params(index_header *h, float **owned, umapc_error *err) {
    *owned = NULL;
    if (h->metric.n_params > 0) {
        *owned = malloc(h->metric.n_params * sizeof **owned);
        if (*owned == NULL) {
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate %zu parameters",
                              h->metric.n_params);
        }
        memcpy(*owned, h->params_at, h->metric.n_params * sizeof **owned);
        h->metric.params = *owned;
    }
    umapc_error detail = {0};
    if (umapc_metric_validate_dim(&h->metric, h->dim, &detail)) {
        return corrupt(err, detail.message);
    }
    return UMAPC_OK;
}

static umapc_status read_payload(umapc_index *index, const index_header *h, const uint8_t *at,
                                 umapc_error *err) {
    if (h->backend == UMAPC_BACKEND_EXACT) {
        if (umapc_mul_size(umapc_mul_size(h->n, h->dim), sizeof(float)) != h->payload) {
            return corrupt(err, "payload size does not match the shape");
        }
        umapc_status status = reserve_exact_rows(index, h->n, err);
        if (status) {
            return status;
        }
        memcpy(index->exact_rows, at, h->payload);
        /* The rows get the checks create and add give them: a loaded index must not hold what
         * neither would have accepted (NaN, hellinger rows with negative entries, ...). */
        umapc_error detail = {0};
        if (check_rows(&h->metric, index->exact_rows, h->n, h->dim, "stored rows", &detail)) {
            return corrupt(err, detail.message);
        }
        index->n = h->n;
        return UMAPC_OK;
    }
    umapc_status status = umapc_hnsw_deserialize(at, h->payload, &index->hnsw, err);
    if (status) {
        return status;
    }
    if (umapc_hnsw_size(index->hnsw) != h->n || umapc_hnsw_dim(index->hnsw) != h->dim) {
        return corrupt(err, "graph shape does not match the header");
    }
    const umapc_metric *graph_metric = &index->hnsw->space.plan.metric;
    if (graph_metric->kind != h->metric.kind ||
        (metric_uses_p(h->metric.kind) && graph_metric->p != h->metric.p) ||
        graph_metric->n_params != h->metric.n_params ||
        (h->metric.n_params &&
         memcmp(graph_metric->params, h->metric.params, h->metric.n_params * sizeof(float)))) {
        return corrupt(err, "the graph was built for another metric than the header names");
    }
    index->n = h->n;
    return UMAPC_OK;
}

static umapc_status copy_meta(const uint8_t *at, size_t size, uint8_t **meta, size_t *meta_size,
                              umapc_error *err) {
    *meta = NULL;
    *meta_size = size;
    if (size == 0) {
        return UMAPC_OK;
    }
    *meta = malloc(size);
    if (*meta == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", size);
    }
    memcpy(*meta, at, size);
    return UMAPC_OK;
}

umapc_status umapc_index_deserialize(const uint8_t *buffer, size_t size, umapc_index **out,
                                     uint8_t **meta, size_t *meta_size, umapc_error *err) {
    *out = NULL;
    *meta = NULL;
    *meta_size = 0;
    index_header h;
    float *params = NULL;
    umapc_status status = read_header(buffer, size, &h, err);
    if (status == UMAPC_OK) {
        status = read_params(&h, &params, err);
    }
    umapc_index *index = status ? NULL : index_alloc(&h.metric, h.backend, h.dim);
    free(params);
    if (status) {
        return status;
    }
    if (index == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate the index");
    }
    h.metric = index->metric; /* the index's copy of the parameters, for read_payload's checks */
    size_t params_bytes = h.metric.n_params * sizeof(float);
    status = read_payload(index, &h, buffer + HEADER_BYTES + params_bytes + h.meta, err);
    if (status == UMAPC_OK) {
        status = copy_meta(buffer + HEADER_BYTES + params_bytes, h.meta, meta, meta_size, err);
    }
    if (status) {
        umapc_index_free(index);
        return status;
    }
    *out = index;
    return UMAPC_OK;
}

int umapc_index_rows_as_given(const umapc_index *index) {
    if (index == NULL || metric_search_rows_copy(&index->metric)) {
        return 0;
    }
    if (index->backend == UMAPC_BACKEND_EXACT) {
        return 1;
    }
    /* 8-bit codes are kept only when lossless (euclidean rows of integers); float rows are kept
     * as the metric prepares them, which is the row itself unless the metric normalises */
    const umapc_hnsw *h = index->hnsw;
    return h != NULL && (h->rows == HNSW_ROWS_CODES || h->space.plan.prep == METRIC_PREP_NONE);
}

umapc_status umapc_index_copy_rows(const umapc_index *index, float *out, umapc_error *err) {
    umapc_status status = check_handle(index, "copy_rows", err);
    if (status) {
        return status;
    }
    if (index->backend == UMAPC_BACKEND_EXACT) {
        memcpy(out, index->exact_rows, index->n * index->dim * sizeof(float));
        return UMAPC_OK;
    }
    if (!umapc_index_rows_as_given(index)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "this HNSW index keeps its rows normalised for the metric, not as given");
    }
    for (size_t u = 0; u < index->n; u++) {
        hnsw_row(index->hnsw, (uint32_t)u, out + u * index->dim);
    }
    return UMAPC_OK;
}

/* Writes all of bytes to fd, retrying short writes and EINTR; 0 on success. */
static int write_all(int fd, const uint8_t *bytes, size_t size) {
    while (size > 0) {
        size_t chunk = size < ((size_t)1 << 30) ? size : ((size_t)1 << 30);
        ssize_t wrote = write(fd, bytes, chunk);
        if (wrote < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        bytes += wrote;
        size -= (size_t)wrote;
    }
    return 0;
}

/* The folder part of path ("." when it has none), in a new buffer. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : (slash == path ? 1 : (size_t)(slash - path));
    char *dir = malloc(len + 1);
    if (dir != NULL) {
        memcpy(dir, slash == NULL ? "." : path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* A temporary file next to path, created exclusively (O_EXCL | O_NOFOLLOW: a name planted by
 * another user, a symlink included, is never opened) under a name no other thread or process
 * uses, then written, fsynced and renamed over path; the folder is fsynced so the rename
 * survives a crash. Readers see the old file or the new one, never a mix. */
static umapc_status write_file_atomically(const char *path, const uint8_t *bytes, size_t size,
                                          umapc_error *err) {
    static _Atomic unsigned long counter = 0;
    size_t tmp_len = strlen(path) + 64;
    char *tmp = malloc(tmp_len);
    char *dir = folder_of(path);
    if (tmp == NULL || dir == NULL) {
        free(tmp);
        free(dir);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        unsigned long serial = counter++;
        uint64_t salt = umapc_hash64((uint64_t)(uintptr_t)&fd ^ ((uint64_t)getpid() << 32) ^
                                     (uint64_t)serial ^ (uint64_t)time(NULL));
        snprintf(tmp, tmp_len, "%s.tmp.%ld.%lu.%016llx", path, (long)getpid(), serial,
                 (unsigned long long)salt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) {
            break;
        }
    }
    if (fd < 0) {
        umapc_status st =
            umapc_fail(err, UMAPC_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        free(dir);
        return st;
    }
    int ok = write_all(fd, bytes, size) == 0;
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    ok = (close(fd) == 0) && ok;
    if (ok) {
        ok = rename(tmp, path) == 0;
        saved = errno;
    }
    umapc_status status = UMAPC_OK;
    if (!ok) {
        status = umapc_fail(err, UMAPC_ERR_IO, "cannot write %s: %s", path, strerror(saved));
        unlink(tmp);
    } else {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            /* Some file systems refuse fsync on folders (EINVAL); the file itself is synced. */
            if (errno != EINVAL && errno != EROFS && errno != EBADF) {
                status = umapc_fail(err, UMAPC_ERR_IO, "cannot sync the folder of %s: %s", path,
                                    strerror(errno));
            }
        }
        if (dfd >= 0) {
            close(dfd);
        }
    }
    free(tmp);
    free(dir);
    return status;
}

umapc_status umapc_index_save(const umapc_index *index, const char *path, umapc_blob meta,
                              umapc_error *err) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    umapc_status status = umapc_index_serialize(index, meta, &bytes, &size, err);
    if (status) {
        return status;
    }
    status = write_file_atomically(path, bytes, size, err);
    free(bytes);
    return status;
}

/* Regular files only (a folder, a FIFO or a device would block or read as garbage), sized with
 * fstat in 64 bits, read in chunks (files over 2 GiB included). */
static umapc_status read_whole_file(const char *path, uint8_t **bytes, size_t *size,
                                    umapc_error *err) {
    *bytes = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return umapc_fail(err, UMAPC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        umapc_status status =
            umapc_fail(err, UMAPC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return status;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return umapc_fail(err, UMAPC_ERR_IO, "cannot read %s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size >= (uint64_t)SIZE_MAX) {
        close(fd);
        return umapc_fail(err, UMAPC_ERR_IO, "cannot read %s: file too large", path);
    }
    size_t length = (size_t)st.st_size;
    uint8_t *buffer = malloc(length > 0 ? length : 1);
    if (buffer == NULL) {
        close(fd);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", length);
    }
    size_t got = 0;
    while (got < length) {
        size_t chunk = length - got < ((size_t)1 << 30) ? length - got : ((size_t)1 << 30);
        ssize_t r = read(fd, buffer + got, chunk);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) { /* an error, or the file shrank while being read */
            umapc_status status = umapc_fail(err, UMAPC_ERR_IO, "cannot read %s: %s", path,
                                             r < 0 ? strerror(errno) : "file changed size");
            free(buffer);
            close(fd);
            return status;
        }
        got += (size_t)r;
    }
    close(fd);
    *bytes = buffer;
    *size = length;
    return UMAPC_OK;
}

umapc_status umapc_file_write_atomic(const char *path, const uint8_t *bytes, size_t size,
                                     umapc_error *err) {
    if (path == NULL || (bytes == NULL && size > 0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "file_write_atomic: NULL argument");
    }
    return write_file_atomically(path, bytes, size, err);
}

umapc_status umapc_file_read(const char *path, uint8_t **bytes, size_t *size, umapc_error *err) {
    if (path == NULL || bytes == NULL || size == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "file_read: NULL argument");
    }
    return read_whole_file(path, bytes, size, err);
}

umapc_status umapc_index_load(const char *path, umapc_index **out, uint8_t **meta,
                              size_t *meta_size, umapc_error *err) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    *out = NULL;
    *meta = NULL;
    *meta_size = 0;
    umapc_status status = read_whole_file(path, &bytes, &size, err);
    if (status) {
        return status;
    }
    status = umapc_index_deserialize(bytes, size, out, meta, meta_size, err);
    free(bytes);
    if (status == UMAPC_ERR_CORRUPT && err != NULL) {
        char detail[sizeof err->message];
        memcpy(detail, err->message, sizeof detail);
        umapc_fail(err, status, "%s: %s", path, detail);
    }
    return status;
}
