/* HNSW serialisation. The buffer is a fixed header, the metric's array parameter (seuclidean's V,
 * wminkowski's w, mahalanobis' VI: umapc_metric_params_needed floats; nothing for other metrics,
 * so files of those are laid out as before), the code offsets (coded rows only), then the
 * levels, the upper-layer directory and lists, and the layer-0 links and rows without padding (code
 * rows without their item header, which loading recomputes). Loading checks every field and every
 * link before the index is used: a corrupt buffer gives UMAPC_ERR_CORRUPT, never an out-of-bounds
 * read later.
 */
#include "codes.h"
#include "hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char HNSW_MAGIC[8] = {'U', 'M', 'H', 'N', 'S', 'W', 0, 1};
#define HNSW_FORMAT_VERSION 2u
#define HNSW_ENDIAN_MARK    0x01020304u

typedef struct hnsw_header {
    char magic[8];
    uint32_t version, endian;
    uint32_t metric_kind, max_level_plus1;
    uint32_t rows, allow_codes; /* hnsw_rows; the build option, kept for later additions */
    double metric_p;
    uint64_t dim, n, M, ef_construction, seed;
    uint64_t entry, n_upper, pool_size;
} hnsw_header;

static size_t add_size(size_t a, size_t b) {
    return (a == SIZE_MAX || b == SIZE_MAX || b > SIZE_MAX - a) ? SIZE_MAX : a + b;
}

static size_t row_bytes(uint32_t rows, size_t dim) {
    return rows == HNSW_ROWS_CODES ? dim : umapc_mul_size(dim, sizeof(float));
}

static size_t body_size(size_t n, size_t dim, size_t M, size_t n_upper, size_t pool_size,
                        uint32_t rows, uint32_t kind) {
    size_t s = n; /* levels */
    if (kind < UMAPC_METRIC_COUNT_) {
        s = add_size(s, umapc_mul_size(umapc_metric_params_needed((umapc_metric_kind)kind, dim),
                                       sizeof(float)));
    }
    if (rows == HNSW_ROWS_CODES) {
        s = add_size(s, umapc_mul_size(dim, sizeof(float))); /* code offsets */
    }
    s = add_size(s, umapc_mul_size(n_upper, sizeof(uint32_t)));   /* upper ids */
    s = add_size(s, umapc_mul_size(n_upper, sizeof(uint64_t)));   /* upper starts */
    s = add_size(s, umapc_mul_size(pool_size, sizeof(uint32_t))); /* upper lists */
    size_t block = add_size(umapc_mul_size(2 * M, sizeof(uint32_t)), row_bytes(rows, dim));
    return add_size(s, umapc_mul_size(n, block)); /* layer-0 links + rows */
}

size_t umapc_hnsw_serialized_size(const umapc_hnsw *h) {
    if (h == NULL) {
        return 0;
    }
    return sizeof(hnsw_header) + body_size(h->n, h->dim, h->M, h->n_upper, h->pool_size, h->rows,
                                           (uint32_t)h->space.plan.metric.kind);
}

/* Empty sections may have NULL arrays (an index with no node above layer 0 has no upper ids), and
 * memcpy from NULL is undefined even for 0 bytes. */
static uint8_t *put(uint8_t *p, const void *src, size_t bytes) {
    if (bytes > 0) {
        memcpy(p, src, bytes);
    }
    return p + bytes;
}

umapc_status umapc_hnsw_serialize(const umapc_hnsw *h, uint8_t *buffer, size_t size,
                                  umapc_error *err) {
    if (h == NULL || buffer == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw serialize: NULL argument");
    }
    if (h->space.plan.metric.kind == UMAPC_METRIC_CUSTOM) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "hnsw serialize: a custom metric (a function pointer) cannot be saved");
    }
    if (size < umapc_hnsw_serialized_size(h)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "hnsw serialize: buffer of %zu bytes, need %zu", size,
                          umapc_hnsw_serialized_size(h));
    }
    hnsw_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, HNSW_MAGIC, sizeof hd.magic);
    hd.version = HNSW_FORMAT_VERSION;
    hd.endian = HNSW_ENDIAN_MARK;
    hd.metric_kind = (uint32_t)h->space.plan.metric.kind;
    hd.max_level_plus1 = (uint32_t)(h->max_level + 1);
    hd.rows = (uint32_t)h->rows;
    hd.allow_codes = (uint32_t)h->allow_codes;
    hd.metric_p = h->space.plan.metric.p;
    hd.dim = h->dim;
    hd.n = h->n;
    hd.M = h->M;
    hd.ef_construction = h->ef_construction;
    hd.seed = h->seed;
    hd.entry = h->entry;
    hd.n_upper = h->n_upper;
    hd.pool_size = h->pool_size;
    uint8_t *p = put(buffer, &hd, sizeof hd);
    p = put(p, h->params, h->space.plan.metric.n_params * sizeof *h->params);
    if (h->rows == HNSW_ROWS_CODES) {
        p = put(p, h->code_lo, h->dim * sizeof *h->code_lo);
    }
    p = put(p, h->levels, h->n);
    p = put(p, h->upper_ids, h->n_upper * sizeof *h->upper_ids);
    p = put(p, h->upper_start, h->n_upper * sizeof *h->upper_start);
    p = put(p, h->upper_pool, h->pool_size * sizeof *h->upper_pool);
    size_t links = h->M0 * sizeof(uint32_t), vec = row_bytes(h->rows, h->dim);
    size_t skip = h->rows == HNSW_ROWS_CODES ? HNSW_ITEM_HEADER : 0;
    for (size_t u = 0; u < h->n; u++) {
        p = put(p, h->base + u * h->stride, links);
        p = put(p, h->base + u * h->stride + h->vec_offset + skip, vec);
    }
    return UMAPC_OK;
}

static umapc_status corrupt(umapc_error *err, const char *what) {
    return umapc_fail(err, UMAPC_ERR_CORRUPT, "hnsw: corrupt index data (%s)", what);
}

static umapc_status check_header(const hnsw_header *hd, size_t size, umapc_error *err) {
    if (memcmp(hd->magic, HNSW_MAGIC, sizeof hd->magic) != 0) {
        return corrupt(err, "bad magic");
    }
    if (hd->version != HNSW_FORMAT_VERSION || hd->endian != HNSW_ENDIAN_MARK) {
        return corrupt(err, "unknown version or byte order");
    }
    if (hd->metric_kind >= UMAPC_METRIC_COUNT_) {
        return corrupt(err, "metric");
    }
    if (hd->n == 0 || hd->n >= INT32_MAX || hd->dim == 0 || hd->dim > (1u << 24) || hd->M < 2 ||
        hd->M > HNSW_MAX_M || hd->ef_construction < 1 || hd->ef_construction > 65536 ||
        hd->max_level_plus1 < 1 || hd->max_level_plus1 > HNSW_MAX_LEVEL + 1 || hd->entry >= hd->n ||
        hd->n_upper > hd->n || hd->pool_size > (uint64_t)hd->n * HNSW_MAX_LEVEL * hd->M ||
        hd->rows > HNSW_ROWS_CODES || hd->allow_codes > 1 ||
        (hd->rows == HNSW_ROWS_CODES &&
         (hd->dim > CODE_MAX_DIM || hd->metric_kind > UMAPC_METRIC_SQEUCLIDEAN))) {
        return corrupt(err, "header fields out of range");
    }
    size_t want = add_size(sizeof *hd, body_size(hd->n, hd->dim, hd->M, hd->n_upper, hd->pool_size,
                                                 hd->rows, hd->metric_kind));
    if (want != size) {
        return corrupt(err, "size does not match header");
    }
    return UMAPC_OK;
}

/* Levels, upper directory and maximum level agree with each other and with the header. */
static int check_levels(const umapc_hnsw *h, int max_level) {
    size_t up = 0, pool = 0;
    int top = 0;
    for (size_t u = 0; u < h->n; u++) {
        int l = h->levels[u];
        if (l > HNSW_MAX_LEVEL) {
            return -1;
        }
        top = l > top ? l : top;
        if (l > 0) {
            if (up >= h->n_upper || h->upper_ids[up] != u || h->upper_start[up] != pool) {
                return -1;
            }
            pool += (size_t)l * h->M;
            up++;
        }
    }
    if (up != h->n_upper || pool != h->pool_size || top != max_level ||
        h->levels[h->entry] != max_level) {
        return -1;
    }
    return 0;
}

/* A list is a prefix of valid ids of nodes that reach `level`, then NONE. */
static int check_list(const umapc_hnsw *h, uint32_t u, const uint32_t *links, size_t cap,
                      int level) {
    size_t j = 0;
    for (; j < cap && links[j] != HNSW_NONE; j++) {
        if (links[j] >= h->n || links[j] == u || h->levels[links[j]] < level) {
            return -1;
        }
    }
    for (; j < cap; j++) {
        if (links[j] != HNSW_NONE) {
            return -1;
        }
    }
    return 0;
}

static int check_graph(const umapc_hnsw *h) {
    for (size_t u = 0; u < h->n; u++) {
        if (check_list(h, (uint32_t)u, hnsw_links0(h, (uint32_t)u), h->M0, 0) != 0) {
            return -1;
        }
        if (h->rows == HNSW_ROWS_FLOAT) {
            const float *v = hnsw_vec(h, (uint32_t)u);
            for (size_t d = 0; d < h->dim; d++) {
                if (!isfinite(v[d])) {
                    return -1;
                }
            }
        }
        for (int l = 1; l <= h->levels[u]; l++) {
            if (check_list(h, (uint32_t)u, hnsw_upper_links(h, (uint32_t)u, l), h->M, l) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static const uint8_t *take(void *dst, const uint8_t *p, size_t bytes) {
    if (bytes > 0) {
        memcpy(dst, p, bytes);
    }
    return p + bytes;
}

/* Code offsets must be finite and leave every code's row finite. */
static int check_code_lo(const float *lo, size_t dim) {
    for (size_t d = 0; d < dim; d++) {
        if (!isfinite(lo[d]) || !isfinite(lo[d] + 255.0f)) {
            return -1;
        }
    }
    return 0;
}

static int load_body(umapc_hnsw *h, const hnsw_header *hd, const uint8_t *p) {
    size_t n = hd->n, nu = hd->n_upper, ps = hd->pool_size;
    if (hd->rows == HNSW_ROWS_CODES) {
        float *lo = malloc(h->dim * sizeof *lo);
        int st = lo == NULL ? -1 : 0;
        if (st == 0) {
            p = take(lo, p, h->dim * sizeof *lo);
            st = check_code_lo(lo, h->dim) != 0 ? 1 : hnsw_set_rows(h, HNSW_ROWS_CODES, lo);
        }
        free(lo);
        if (st != 0) {
            return st;
        }
    }
    if (hnsw_reserve(h, n) != 0) {
        return -1;
    }
    h->upper_ids = malloc((nu ? nu : 1) * sizeof *h->upper_ids);
    h->upper_start = malloc((nu ? nu : 1) * sizeof *h->upper_start);
    h->upper_pool = malloc((ps ? ps : 1) * sizeof *h->upper_pool);
    if (!h->upper_ids || !h->upper_start || !h->upper_pool) {
        return -1;
    }
    h->upper_cap = h->n_upper = nu;
    h->pool_cap = h->pool_size = ps;
    p = take(h->levels, p, n);
    p = take(h->upper_ids, p, nu * sizeof *h->upper_ids);
    p = take(h->upper_start, p, nu * sizeof *h->upper_start);
    p = take(h->upper_pool, p, ps * sizeof *h->upper_pool);
    size_t links = h->M0 * sizeof(uint32_t), vec = row_bytes(h->rows, h->dim);
    size_t skip = h->rows == HNSW_ROWS_CODES ? HNSW_ITEM_HEADER : 0;
    for (size_t u = 0; u < n; u++) {
        unsigned char *block = h->base + u * h->stride;
        p = take(block, p, links);
        p = take(block + h->vec_offset + skip, p, vec);
        if (skip) {
            hnsw_item_fill(block + h->vec_offset, h->dim);
        }
    }
    h->n = n;
    return 0;
}

umapc_status umapc_hnsw_deserialize(const uint8_t *buffer, size_t size, umapc_hnsw **out,
                                    umapc_error *err) {
    if (out == NULL || (buffer == NULL && size > 0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw deserialize: NULL argument");
    }
    *out = NULL;
    hnsw_header hd;
    if (size < sizeof hd) {
        return corrupt(err, "truncated header");
    }
    memcpy(&hd, buffer, sizeof hd);
    umapc_status st = check_header(&hd, size, err);
    if (st != UMAPC_OK) {
        return st;
    }
    /* The parameters are checked as a build checks them; they stay in the caller's buffer only
     * until hnsw_alloc has copied them. */
    umapc_metric metric;
    umapc_metric_init(&metric);
    metric.kind = (umapc_metric_kind)hd.metric_kind;
    metric.p = hd.metric_p;
    metric.n_params = umapc_metric_params_needed(metric.kind, hd.dim);
    float *params = NULL;
    if (metric.n_params > 0) {
        params = malloc(metric.n_params * sizeof *params);
        if (params == NULL) {
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw deserialize: out of memory");
        }
        memcpy(params, buffer + sizeof hd, metric.n_params * sizeof *params);
        metric.params = params;
    }
    if (umapc_metric_validate_dim(&metric, hd.dim, NULL) != UMAPC_OK) {
        free(params);
        return corrupt(err, "metric");
    }
    umapc_hnsw *h = hnsw_alloc(&metric, hd.dim, hd.M, hd.ef_construction, hd.seed);
    free(params);
    int loaded =
        h == NULL ? -1 : load_body(h, &hd, buffer + sizeof hd + metric.n_params * sizeof(float));
    if (loaded != 0) {
        umapc_hnsw_free(h);
        return loaded > 0
                   ? corrupt(err, "code offsets")
                   : umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw deserialize: out of memory");
    }
    h->allow_codes = (int)hd.allow_codes;
    h->entry = (uint32_t)hd.entry;
    h->max_level = (int)hd.max_level_plus1 - 1;
    if (check_levels(h, h->max_level) != 0 || check_graph(h) != 0) {
        umapc_hnsw_free(h);
        return corrupt(err, "levels or links");
    }
    *out = h;
    return UMAPC_OK;
}
