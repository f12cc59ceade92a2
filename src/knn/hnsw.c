/* HNSW index: storage, deterministic parallel insertion, queries.
 *
 * Determinism whatever the thread count: points are inserted in batches. Every point of a batch
 * searches the graph as it was before the batch (nobody writes it meanwhile, so no locks are
 * needed) and also sees the other points of its batch by brute force. Its own links are then
 * written, and the back-links are grouped by target node and merged in a fixed order, one target
 * per task. Batch boundaries depend only on the number of points already linked. */
#include "hnsw_internal.h"
#include "parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HNSW_MAX_BATCH 1024
/* Batch points brute-forced against each other: the ones next to it in insertion order. */
#define HNSW_BATCH_WINDOW 48
#define HNSW_LEVEL_STREAM 0x6c6576656cULL

void umapc_hnsw_options_init(umapc_hnsw_options *opts) {
    opts->M = 16;
    opts->ef_construction = 200;
    opts->seed = 0;
    opts->n_threads = 0;
    opts->lossless_codes = 1;
}

void umapc_query_options_init(umapc_query_options *opts) {
    opts->ef = 0;
    opts->n_threads = 0;
    opts->filter_mask = NULL;
}

size_t umapc_hnsw_size(const umapc_hnsw *index) {
    return index ? index->n : 0;
}

size_t umapc_hnsw_dim(const umapc_hnsw *index) {
    return index ? index->dim : 0;
}

size_t umapc_hnsw_memory(const umapc_hnsw *h) {
    if (h == NULL) {
        return 0;
    }
    size_t lo = h->code_lo != NULL ? h->dim * sizeof *h->code_lo : 0;
    return sizeof *h + lo + h->cap * (h->stride + 1) +
           h->upper_cap * (sizeof *h->upper_ids + sizeof *h->upper_start) +
           h->pool_cap * sizeof *h->upper_pool;
}

void umapc_hnsw_free(umapc_hnsw *h) {
    if (h == NULL) {
        return;
    }
    umapc_aligned_free(h->base);
    free(h->code_lo);
    free(h->levels);
    free(h->upper_ids);
    free(h->upper_start);
    free(h->upper_pool);
    free(h->params);
    free(h);
}

static int random_level(uint64_t seed, size_t M, uint64_t id) {
    uint64_t r = umapc_rand_at(seed, HNSW_LEVEL_STREAM, id);
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double level = -log(u) / log((double)M);
    return level >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)level;
}

/* Layer-0 block: links first, then the row. Padding the stride to a cache line is worth it only
 * when it costs little next to the row itself (the memory budget is 1.1x the data). */
static void choose_layout(umapc_hnsw *h) {
    size_t links = h->M0 * sizeof(uint32_t);
    size_t row = h->rows == HNSW_ROWS_CODES ? hnsw_item_bytes(h->dim) : h->dim * sizeof(float);
    size_t stride = (links + row + 3) & ~(size_t)3; /* 4-byte fields; item headers are memcpy'd */
    size_t padded = (stride + 63) & ~(size_t)63;
    h->vec_offset = links;
    h->stride = ((padded - stride) * 20 <= row) ? padded : stride;
}

umapc_hnsw *hnsw_alloc(const umapc_metric *metric, size_t dim, size_t M, size_t ef_construction,
                       uint64_t seed) {
    umapc_hnsw *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return NULL;
    }
    umapc_metric own = *metric;
    int failed;
    h->params = metric_own_params(&own, &failed);
    if (failed) {
        free(h);
        return NULL;
    }
    metric_space_init(&h->space, &own, dim, METRIC_SPACE_ANGULAR_PLAIN);
    h->dim = dim;
    h->M = M;
    h->M0 = 2 * M;
    h->ef_construction = ef_construction;
    h->seed = seed;
    h->max_level = -1;
    h->allow_codes = 1;
    h->rows = HNSW_ROWS_FLOAT;
    choose_layout(h);
    return h;
}

int hnsw_set_rows(umapc_hnsw *h, hnsw_rows rows, const float *code_lo) {
    if (rows == HNSW_ROWS_CODES) {
        h->code_lo = malloc(h->dim * sizeof *h->code_lo);
        if (h->code_lo == NULL) {
            return -1;
        }
        memcpy(h->code_lo, code_lo, h->dim * sizeof *h->code_lo);
    }
    h->rows = rows;
    choose_layout(h);
    return 0;
}

/* Float blocks for a coded index: same links, decoded rows. */
int hnsw_rows_to_floats(umapc_hnsw *h) {
    umapc_hnsw wide = *h;
    wide.rows = HNSW_ROWS_FLOAT;
    choose_layout(&wide);
    wide.base = umapc_aligned_alloc(h->cap ? h->cap : 1, wide.stride);
    if (wide.base == NULL) {
        return -1;
    }
    for (size_t u = 0; u < h->n; u++) {
        memcpy(wide.base + u * wide.stride, hnsw_links0(h, (uint32_t)u), h->vec_offset);
        hnsw_row(h, (uint32_t)u, (float *)(wide.base + u * wide.stride + wide.vec_offset));
    }
    umapc_aligned_free(h->base);
    free(h->code_lo);
    wide.code_lo = NULL;
    *h = wide;
    return 0;
}

static int grow_array(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return 0;
    }
    void *q = realloc(*p, umapc_mul_size(need, elem));
    if (q == NULL) {
        return -1;
    }
    *p = q;
    *cap = need;
    return 0;
}

/* Makes room for `total` nodes; block contents of existing nodes are kept. */
int hnsw_reserve(umapc_hnsw *h, size_t total) {
    if (total <= h->cap) {
        return 0;
    }
    if (umapc_mul_size(total, h->stride) == SIZE_MAX) {
        return -1;
    }
    unsigned char *base = umapc_aligned_alloc(total, h->stride);
    uint8_t *levels = realloc(h->levels, total);
    if (levels != NULL) {
        h->levels = levels;
    }
    if (base == NULL || levels == NULL) {
        umapc_aligned_free(base);
        return -1;
    }
    if (h->base != NULL) {
        memcpy(base, h->base, h->n * h->stride);
    }
    umapc_aligned_free(h->base);
    h->base = base;
    h->cap = total;
    return 0;
}

/* Stores rows [h->n, h->n + count) unlinked: prepared vectors, levels, empty link lists. */
static int store_rows(umapc_hnsw *h, const float *data, size_t count) {
    size_t first = h->n, need_upper = h->n_upper, need_pool = h->pool_size;
    for (size_t i = 0; i < count; i++) {
        int level = random_level(h->seed, h->M, first + i);
        h->levels[first + i] = (uint8_t)level;
        if (level > 0) {
            need_upper++;
            need_pool += (size_t)level * h->M;
        }
    }
    if (grow_array((void **)&h->upper_ids, &(size_t){h->upper_cap}, need_upper,
                   sizeof *h->upper_ids) != 0 ||
        grow_array((void **)&h->upper_start, &h->upper_cap, need_upper, sizeof *h->upper_start) !=
            0 ||
        grow_array((void **)&h->upper_pool, &h->pool_cap, need_pool, sizeof *h->upper_pool) != 0) {
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t u = first + i;
        unsigned char *block = h->base + u * h->stride;
        memset(block, 0xff, h->vec_offset); /* HNSW_NONE in every slot */
        if (h->rows == HNSW_ROWS_CODES) {   /* euclidean: the prepared row is the row */
            hnsw_encode_row(h, data + i * h->dim, block + h->vec_offset);
        } else {
            metric_prepare_row(&h->space.plan, data + i * h->dim, (float *)(block + h->vec_offset),
                               h->dim);
        }
        if (h->levels[u] > 0) {
            h->upper_ids[h->n_upper] = (uint32_t)u;
            h->upper_start[h->n_upper] = h->pool_size;
            memset(h->upper_pool + h->pool_size, 0xff,
                   (size_t)h->levels[u] * h->M * sizeof *h->upper_pool);
            h->pool_size += (size_t)h->levels[u] * h->M;
            h->n_upper++;
        }
    }
    return 0;
}

/* A back-link request: node u wants v in its list at `level`. */
typedef struct hnsw_request {
    uint32_t v, u;
    float d;
    uint32_t level;
} hnsw_request;

static int cmp_request(const void *a, const void *b) {
    const hnsw_request *x = a, *y = b;
    if (x->level != y->level) {
        return x->level < y->level ? -1 : 1;
    }
    if (x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return (x->u > y->u) - (x->u < y->u);
}

/* Everything one insertion pass needs, allocated once. */
typedef struct hnsw_builder {
    umapc_hnsw *h;
    hnsw_view view;   /* what distances are measured on while inserting */
    hnsw_codes codes; /* 8-bit rows when the metric allows them */
    int threads;
    hnsw_scratch *scratch;  /* one per thread */
    hnsw_pair **cbuf;       /* per thread: candidates, ef_construction + batch + cap */
    hnsw_pair **epsbuf;     /* per thread: entry points of the next level, ef_construction */
    float **dbatch;         /* per thread: distances to the batch */
    hnsw_pair *selected;    /* batch x (MAX_LEVEL + 1) x M */
    uint16_t *n_selected;   /* batch x (MAX_LEVEL + 1) */
    hnsw_request *requests; /* batch x (MAX_LEVEL + 1) x M */
    size_t cbuf_len;
} hnsw_builder;

static void builder_free(hnsw_builder *b) {
    for (int t = 0; t < b->threads; t++) {
        if (b->scratch) {
            hnsw_scratch_free(&b->scratch[t]);
        }
        if (b->cbuf) {
            free(b->cbuf[t]);
        }
        if (b->dbatch) {
            free(b->dbatch[t]);
        }
        if (b->epsbuf) {
            free(b->epsbuf[t]);
        }
    }
    free(b->scratch);
    free(b->cbuf);
    free(b->dbatch);
    free(b->epsbuf);
    free(b->selected);
    free(b->n_selected);
    free(b->requests);
    hnsw_codes_free(&b->codes);
}

static int builder_init(hnsw_builder *b, umapc_hnsw *h, int threads, size_t total) {
    memset(b, 0, sizeof *b);
    b->h = h;
    b->threads = threads;
    if (hnsw_codes_build(h, total, threads, &b->codes) == 0) {
        hnsw_view_codes(&b->view, h, &b->codes);
    } else {
        hnsw_view_rows(&b->view, h);
    }
    b->cbuf_len = h->ef_construction + HNSW_MAX_BATCH + h->M0 + 1;
    size_t slots = (size_t)HNSW_MAX_BATCH * (HNSW_MAX_LEVEL + 1);
    b->scratch = calloc((size_t)threads, sizeof *b->scratch);
    b->cbuf = calloc((size_t)threads, sizeof *b->cbuf);
    b->dbatch = calloc((size_t)threads, sizeof *b->dbatch);
    b->epsbuf = calloc((size_t)threads, sizeof *b->epsbuf);
    b->selected = malloc(slots * h->M * sizeof *b->selected);
    b->n_selected = malloc(slots * sizeof *b->n_selected);
    b->requests = malloc(slots * h->M * sizeof *b->requests);
    if (!b->scratch || !b->cbuf || !b->dbatch || !b->epsbuf || !b->selected || !b->n_selected ||
        !b->requests) {
        return -1;
    }
    for (int t = 0; t < threads; t++) {
        b->cbuf[t] = malloc(b->cbuf_len * sizeof **b->cbuf);
        b->dbatch[t] = malloc(HNSW_MAX_BATCH * sizeof **b->dbatch);
        b->epsbuf[t] = malloc((h->ef_construction + 1) * sizeof **b->epsbuf);
        if (hnsw_scratch_init(&b->scratch[t], total, h->M0, h->dim) != 0 || !b->cbuf[t] ||
            !b->dbatch[t] || !b->epsbuf[t]) {
            return -1;
        }
    }
    return 0;
}

/* Phase 1 for one point u of the batch [first, first + count): choose its neighbours on each of
 * its levels from the frozen graph plus the batch. */
static void plan_links(hnsw_builder *b, int t, size_t first, size_t count, size_t slot) {
    hnsw_scratch *s = &b->scratch[t];
    hnsw_pair *cbuf = b->cbuf[t], *eps = b->epsbuf[t];
    float *dbatch = b->dbatch[t];
    umapc_hnsw *h = b->h;
    const hnsw_view *v = &b->view;
    uint32_t u = (uint32_t)(first + slot);
    const void *q = hnsw_item(v, u);
    int level = h->levels[u];
    size_t lo = slot > HNSW_BATCH_WINDOW ? slot - HNSW_BATCH_WINDOW : 0;
    size_t hi = slot + HNSW_BATCH_WINDOW + 1 < count ? slot + HNSW_BATCH_WINDOW + 1 : count;
    for (size_t j = lo; j < hi; j++) {
        dbatch[j] = (j == slot) ? 0.0f : hnsw_vdist(v, q, (uint32_t)(first + j));
    }
    uint32_t cur = h->entry;
    float cur_d = hnsw_vdist(v, q, cur);
    for (int l = h->max_level; l > level; l--) {
        hnsw_greedy(v, q, l, &cur, &cur_d);
    }
    size_t n_eps = 1;
    eps[0] = (hnsw_pair){cur_d, cur};
    for (int l = level; l >= 0; l--) {
        size_t nc = 0;
        if (l <= h->max_level) {
            hnsw_scratch_new_epoch(s);
            for (size_t i = 0; i < n_eps; i++) {
                hnsw_visit(s, eps[i].id);
            }
            hnsw_search_layer(v, s, q, eps, n_eps, h->ef_construction, l, NULL);
            nc = hnsw_drain_sorted(s, cbuf);
            memcpy(eps, cbuf, nc * sizeof *eps);
            n_eps = nc;
        }
        size_t from_graph = nc;
        for (size_t j = lo; j < hi; j++) {
            if (j != slot && h->levels[first + j] >= l) {
                cbuf[nc++] = (hnsw_pair){dbatch[j], (uint32_t)(first + j)};
            }
        }
        if (nc > from_graph) {
            qsort(cbuf, nc, sizeof *cbuf, hnsw_cmp_pair);
        }
        size_t at = (slot * (HNSW_MAX_LEVEL + 1) + (size_t)l);
        b->n_selected[at] = (uint16_t)hnsw_select(v, u, cbuf, nc, h->M, b->selected + at * h->M);
    }
}

/* Phase 2: the batch point's own lists. */
static void write_links(hnsw_builder *b, size_t first, size_t slot) {
    umapc_hnsw *h = b->h;
    uint32_t u = (uint32_t)(first + slot);
    for (int l = 0; l <= h->levels[u]; l++) {
        size_t at = slot * (HNSW_MAX_LEVEL + 1) + (size_t)l, cap;
        uint32_t *links = hnsw_links(h, u, l, &cap);
        for (size_t j = 0; j < b->n_selected[at]; j++) {
            links[j] = b->selected[at * h->M + j].id;
        }
    }
}

static size_t collect_requests(hnsw_builder *b, size_t first, size_t count) {
    umapc_hnsw *h = b->h;
    size_t n = 0;
    for (size_t slot = 0; slot < count; slot++) {
        uint32_t u = (uint32_t)(first + slot);
        for (int l = 0; l <= h->levels[u]; l++) {
            size_t at = slot * (HNSW_MAX_LEVEL + 1) + (size_t)l;
            for (size_t j = 0; j < b->n_selected[at]; j++) {
                hnsw_pair p = b->selected[at * h->M + j];
                b->requests[n++] = (hnsw_request){p.id, u, p.d, (uint32_t)l};
            }
        }
    }
    qsort(b->requests, n, sizeof *b->requests, cmp_request);
    return n;
}

/* Phase 3 for one target: adds back-links from req[0..nreq) (same v and level), re-pruning with
 * the heuristic when the list overflows. */
static void merge_backlinks(const hnsw_view *view, const hnsw_request *req, size_t nreq,
                            hnsw_pair *buf) {
    const umapc_hnsw *h = view->h;
    uint32_t v = req[0].v;
    int level = (int)req[0].level;
    size_t cap;
    uint32_t *links = hnsw_links(h, v, level, &cap);
    size_t cnt = hnsw_count(links, cap), nb = 0;
    for (size_t i = 0; i < nreq; i++) {
        int present = 0;
        for (size_t j = 0; j < cnt && !present; j++) {
            present = (links[j] == req[i].u);
        }
        if (!present) {
            buf[cnt + nb++] = (hnsw_pair){req[i].d, req[i].u};
        }
    }
    if (cnt + nb <= cap) {
        for (size_t i = 0; i < nb; i++) {
            links[cnt + i] = buf[cnt + i].id;
        }
        return;
    }
    const void *vv = hnsw_item(view, v);
    for (size_t j = 0; j < cnt; j++) {
        buf[j] = (hnsw_pair){hnsw_vdist(view, vv, links[j]), links[j]};
    }
    qsort(buf, cnt + nb, sizeof *buf, hnsw_cmp_pair);
    size_t kept = hnsw_select(view, v, buf, cnt + nb, cap, buf);
    for (size_t j = 0; j < cap; j++) {
        links[j] = j < kept ? buf[j].id : HNSW_NONE;
    }
}

static size_t batch_size(size_t linked) {
    size_t b = linked / 10;
    return b < 1 ? 1 : (b > HNSW_MAX_BATCH ? HNSW_MAX_BATCH : b);
}

/* Group starts of the sorted requests, computed into `starts` (nreq + 1 entries at most). */
static size_t group_starts(const hnsw_request *req, size_t nreq, size_t *starts) {
    size_t g = 0;
    for (size_t i = 0; i < nreq; i++) {
        if (i == 0 || req[i].v != req[i - 1].v || req[i].level != req[i - 1].level) {
            starts[g++] = i;
        }
    }
    starts[g] = nreq;
    return g;
}

/* Serial end of a batch: entry point, linked count, failures and progress. */
static umapc_status finish_batch(hnsw_builder *b, size_t done, size_t bs, size_t first,
                                 size_t count, const umapc_progress *progress, umapc_error *err) {
    umapc_hnsw *h = b->h;
    for (size_t slot = 0; slot < bs; slot++) {
        if (h->levels[done + slot] > h->max_level) {
            h->max_level = h->levels[done + slot];
            h->entry = (uint32_t)(done + slot);
        }
    }
    h->n = done + bs;
    for (int t = 0; t < b->threads; t++) {
        if (b->scratch[t].failed) {
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory in search");
        }
    }
    if (umapc_progress_report(progress, "hnsw build", h->n - first, count)) {
        return umapc_fail(err, UMAPC_ERR_INTERRUPTED, "hnsw: build interrupted");
    }
    return UMAPC_OK;
}

/* After an interrupted insertion, forgets the upper-layer entries of rows that were stored but
 * never linked (no linked node points at them: back-links are applied per finished batch). */
static void drop_unlinked(umapc_hnsw *h) {
    while (h->n_upper > 0 && h->upper_ids[h->n_upper - 1] >= h->n) {
        h->n_upper--;
        h->pool_size = h->upper_start[h->n_upper];
    }
}

/* Picks how rows are stored before the first insertion (codes when lossless), and goes back to
 * float rows when later rows do not fit the codes. */
static int choose_rows(umapc_hnsw *h, const float *data, size_t count, int threads) {
    if (h->n == 0 && h->cap == 0) {
        float *lo = malloc(h->dim * sizeof *lo);
        int fits = lo == NULL ? -1 : hnsw_rows_code_offsets(h, data, count, threads, lo);
        int st = fits < 0 ? -1 : hnsw_set_rows(h, fits ? HNSW_ROWS_CODES : HNSW_ROWS_FLOAT, lo);
        free(lo);
        return st;
    }
    if (h->rows == HNSW_ROWS_CODES && !hnsw_rows_fit_codes(h, data, count)) {
        return hnsw_rows_to_floats(h);
    }
    return 0;
}

int hnsw_store_unlinked(umapc_hnsw *h, const float *data, size_t count, int threads) {
    if (choose_rows(h, data, count, threads) != 0 || hnsw_reserve(h, h->n + count) != 0) {
        return -1;
    }
    return store_rows(h, data, count);
}

static umapc_status insert_range(umapc_hnsw *h, const float *data, size_t count, int n_threads,
                                 const umapc_progress *progress, umapc_error *err) {
    size_t first = h->n, total = h->n + count;
    int threads = umapc_resolve_threads(n_threads);
    if (hnsw_store_unlinked(h, data, count, threads) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory storing %zu rows",
                          count);
    }
    size_t done = first;
    if (h->max_level < 0) {
        h->entry = (uint32_t)first;
        h->max_level = h->levels[first];
        done++;
        h->n = done;
    }
    hnsw_builder b;
    memset(&b, 0, sizeof b);
    size_t slots = (size_t)HNSW_MAX_BATCH * (HNSW_MAX_LEVEL + 1) * h->M + 1;
    size_t *starts = malloc(slots * sizeof *starts);
    if (starts == NULL || builder_init(&b, h, threads, total) != 0) {
        free(starts);
        builder_free(&b);
        drop_unlinked(h);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory for build buffers");
    }
    umapc_status status = UMAPC_OK;
    size_t bs = 0;
    /* One parallel region for the whole insertion (no fork/join per batch); the master thread
     * does the short serial steps between barriers. */
#pragma omp parallel num_threads(threads)
    {
        int t = umapc_thread_id();
        for (;;) {
#pragma omp master
            {
                bs = batch_size(done);
                bs = (status != UMAPC_OK) ? 0 : (bs > total - done ? total - done : bs);
            }
#pragma omp barrier
            if (bs == 0) {
                break;
            }
#pragma omp for schedule(dynamic, 1)
            for (size_t slot = 0; slot < bs; slot++) {
                plan_links(&b, t, done, bs, slot);
            }
#pragma omp master
            {
                for (size_t slot = 0; slot < bs; slot++) {
                    write_links(&b, done, slot);
                }
                size_t nreq = collect_requests(&b, done, bs);
                starts[0] = group_starts(b.requests, nreq, starts + 1);
            }
#pragma omp barrier
            size_t ngroups = starts[0];
#pragma omp for schedule(dynamic, 8)
            for (size_t g = 0; g < ngroups; g++) {
                size_t s0 = starts[1 + g], s1 = starts[2 + g];
                merge_backlinks(&b.view, b.requests + s0, s1 - s0, b.cbuf[t]);
            }
#pragma omp master
            status = finish_batch(&b, done, bs, first, count, progress, err);
#pragma omp master
            done += bs;
#pragma omp barrier
        }
    }
    free(starts);
    builder_free(&b);
    if (status != UMAPC_OK) {
        drop_unlinked(h);
    }
    return status;
}

/* Inserts data in search form (metric_search_rows: dot's rows normalised). */
static umapc_status insert_rows(umapc_hnsw *h, const float *data, size_t n, int n_threads,
                                const umapc_progress *progress, umapc_error *err) {
    float *owned = NULL;
    const float *rows = metric_search_rows(&h->space.plan.metric, data, n, h->dim, &owned);
    if (rows == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: cannot normalise %zu rows", n);
    }
    umapc_status st = insert_range(h, rows, n, n_threads, progress, err);
    free(owned);
    return st;
}

/* n new rows, to make an index of total rows. */
static umapc_status check_rows(const float *data, size_t n, size_t total, size_t dim,
                               umapc_error *err) {
    if (data == NULL && n > 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw: data is NULL");
    }
    if (umapc_mul_size(total, dim) == SIZE_MAX || total >= (size_t)INT32_MAX || n > total) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw: %zu rows is too many", total);
    }
    /* A NaN or infinity would give NaN distances to everything, and an index that saves but does
     * not load (the loader refuses non-finite rows). */
    for (size_t i = 0; i < n * dim; i++) {
        if (!isfinite(data[i])) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "hnsw: row %zu contains NaN or infinity", i / dim);
        }
    }
    return UMAPC_OK;
}

umapc_status hnsw_new_index(const umapc_metric *metric, const float *data, size_t n, size_t dim,
                            const umapc_hnsw_options *opts, umapc_hnsw **out, umapc_error *err) {
    if (out == NULL || metric == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw: metric and out are required");
    }
    *out = NULL;
    umapc_status st = umapc_metric_validate_dim(metric, dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    umapc_hnsw_options defaults;
    umapc_hnsw_options_init(&defaults);
    if (opts == NULL) {
        opts = &defaults;
    }
    if (n == 0 || dim == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw: need n > 0 and dim > 0");
    }
    if (opts->M < 2 || opts->M > HNSW_MAX_M || opts->ef_construction < 1 ||
        opts->ef_construction > 65536) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "hnsw: M must be in [2, %d] and ef_construction in [1, 65536]",
                          HNSW_MAX_M);
    }
    st = check_rows(data, n, n, dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    umapc_hnsw *h = hnsw_alloc(metric, dim, opts->M, opts->ef_construction, opts->seed);
    if (h == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory");
    }
    h->allow_codes = opts->lossless_codes != 0;
    *out = h;
    return UMAPC_OK;
}

umapc_status umapc_hnsw_build(const umapc_metric *metric, const float *data, size_t n, size_t dim,
                              const umapc_hnsw_options *opts, const umapc_progress *progress,
                              umapc_hnsw **out, umapc_error *err) {
    umapc_status st = hnsw_new_index(metric, data, n, dim, opts, out, err);
    if (st != UMAPC_OK) {
        return st;
    }
    st = insert_rows(*out, data, n, opts ? opts->n_threads : 0, progress, err);
    if (st != UMAPC_OK) {
        umapc_hnsw_free(*out);
        *out = NULL;
    }
    return st;
}

umapc_status umapc_hnsw_add(umapc_hnsw *index, const float *data, size_t n,
                            const umapc_run_options *opts, const umapc_progress *progress,
                            umapc_error *err) {
    if (index == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw: index is NULL");
    }
    if (n == 0) {
        return UMAPC_OK;
    }
    umapc_status st = check_rows(data, n, index->n + n, index->dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    return insert_rows(index, data, n, umapc_run_threads(opts), progress, err);
}

/* How a query call finds its results: graph search, or (for a very selective mask) a scan of the
 * allowed rows. */
typedef struct query_plan {
    const umapc_hnsw *h;
    size_t k, ef;
    const uint8_t *mask;
    uint32_t *allowed; /* ids to scan; NULL for graph search */
    size_t n_allowed;
    uint32_t *zero; /* zero rows, when a query is one (hnsw_zero_query) */
    size_t n_zero;
} query_plan;

/* Scanning the a allowed rows costs a distances; a filtered graph search costs about
 * ef * M0 / (a / n) of them, so the scan wins when a * a < ef * M0 * n. */
static int plan_mask(query_plan *qp, umapc_error *err) {
    const umapc_hnsw *h = qp->h;
    size_t a = 0;
    for (size_t i = 0; i < h->n; i++) {
        a += qp->mask[i] != 0;
    }
    double graph_cost = (double)qp->ef * (double)h->M0 * (double)h->n;
    if ((double)a * (double)a >= graph_cost && a > 4 * qp->k) {
        return 0;
    }
    qp->allowed = malloc((a ? a : 1) * sizeof *qp->allowed);
    if (qp->allowed == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory");
    }
    for (size_t i = 0; i < h->n; i++) {
        if (qp->mask[i]) {
            qp->allowed[qp->n_allowed++] = (uint32_t)i;
        }
    }
    return 0;
}

/* The zero rows, listed once for the call when one of the queries prepares to all zeros. */
static umapc_status zero_queries(query_plan *qp, const float *queries, size_t nq,
                                 umapc_error *err) {
    const umapc_hnsw *h = qp->h;
    if (h->space.mode != METRIC_SPACE_ONE_MINUS_DOT || h->rows != HNSW_ROWS_FLOAT) {
        return UMAPC_OK;
    }
    int any = 0;
    for (size_t i = 0; i < nq && !any; i++) {
        any = metric_prepares_to_zero(&h->space.plan, queries + i * h->dim, h->dim);
    }
    if (any && hnsw_zero_rows(h, h->n, &qp->zero, &qp->n_zero) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory");
    }
    return UMAPC_OK;
}

static void query_one(const query_plan *qp, hnsw_scratch *s, hnsw_pair *buf, const float *row,
                      umapc_idx *indices, float *distances) {
    const umapc_hnsw *h = qp->h;
    hnsw_view v;
    metric_prepare_row(&h->space.plan, row, s->query, h->dim);
    const void *q = hnsw_query_view(h, s->query, s->query_item, &v);
    if (hnsw_zero_query(h, s->query)) {
        size_t found = hnsw_zero_answer(h, qp->zero, qp->n_zero, qp->mask, HNSW_NONE, qp->k, buf);
        for (size_t j = 0; j < qp->k; j++) {
            indices[j] = j < found ? (umapc_idx)buf[j].id : -1;
            distances[j] = j < found ? buf[j].d : INFINITY;
        }
        return;
    }
    if (qp->allowed != NULL) {
        hnsw_scan(&v, s, q, qp->allowed, qp->n_allowed, qp->k);
    } else {
        uint32_t cur = h->entry;
        float cur_d = hnsw_vdist(&v, q, cur);
        for (int l = h->max_level; l > 0; l--) {
            hnsw_greedy(&v, q, l, &cur, &cur_d);
        }
        hnsw_scratch_new_epoch(s);
        hnsw_visit(s, cur);
        hnsw_pair ep = {cur_d, cur};
        hnsw_search_layer(&v, s, q, &ep, 1, qp->ef, 0, qp->mask);
    }
    size_t found = hnsw_drain_sorted(s, buf);
    if (v.kind == HNSW_VIEW_FLOAT) {
        hnsw_refine_near(h, (const float *)q, buf, found < qp->k ? found : qp->k);
    }
    for (size_t j = 0; j < qp->k; j++) {
        if (j < found) {
            indices[j] = (umapc_idx)buf[j].id;
            distances[j] = metric_surrogate_to_distance(&h->space.plan, buf[j].d);
        } else {
            indices[j] = -1;
            distances[j] = INFINITY;
        }
    }
}

/* The queries of one call and where their answers go. */
typedef struct query_job {
    const query_plan *qp;
    const float *queries;
    umapc_idx *indices;
    float *distances;
} query_job;

/* A thread's buffers for its queries. */
typedef struct query_scratch {
    hnsw_scratch s;
    hnsw_pair *buf;
} query_scratch;

static int query_init(void *ctx, void *scratch) {
    const query_plan *qp = ((const query_job *)ctx)->qp;
    query_scratch *qs = scratch;
    size_t width = qp->ef > qp->k ? qp->ef : qp->k;
    size_t buf_bytes = umapc_mul_size(width + 1, sizeof(hnsw_pair));
    qs->buf = buf_bytes == SIZE_MAX ? NULL : malloc(buf_bytes);
    return hnsw_scratch_init(&qs->s, qp->h->n, qp->h->M0, qp->h->dim) == 0 && qs->buf != NULL ? 0
                                                                                              : -1;
}

static int query_rows(void *ctx, void *scratch, size_t lo, size_t hi) {
    const query_job *job = ctx;
    const query_plan *qp = job->qp;
    query_scratch *qs = scratch;
    for (size_t i = lo; i < hi; i++) {
        query_one(qp, &qs->s, qs->buf, job->queries + i * qp->h->dim, job->indices + i * qp->k,
                  job->distances + i * qp->k);
    }
    return 0;
}

/* A search that could not grow its buffers returned fewer candidates: out of memory. */
static int query_finish(void *ctx, void *scratch) {
    (void)ctx;
    query_scratch *qs = scratch;
    int failed = qs->s.failed;
    hnsw_scratch_free(&qs->s);
    free(qs->buf);
    return failed;
}

static umapc_status run_queries(const query_plan *qp, const float *queries, size_t nq, int threads,
                                const umapc_progress *progress, umapc_idx *indices,
                                float *distances, umapc_error *err) {
    query_job job = {qp, queries, indices, distances};
    umapc_parallel_loop loop = {.n_items = nq,
                                .chunk = 4,
                                .n_threads = threads,
                                .progress = progress,
                                .stage = "hnsw query",
                                .report_every = 256,
                                .oom_message = "hnsw: out of memory in query",
                                .stop_message = "hnsw: query interrupted",
                                .ctx = &job,
                                .scratch_size = sizeof(query_scratch),
                                .init = query_init,
                                .body = query_rows,
                                .finish = query_finish};
    return umapc_parallel_for(&loop, err);
}

umapc_status umapc_hnsw_query(const umapc_hnsw *index, const float *queries, size_t nq, size_t k,
                              const umapc_query_options *opts, const umapc_progress *progress,
                              umapc_idx *indices, float *distances, umapc_error *err) {
    if (index == NULL || (nq > 0 && (queries == NULL || indices == NULL || distances == NULL))) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw query: NULL argument");
    }
    if (k == 0 || k > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "hnsw query: k must be >= 1");
    }
    umapc_query_options defaults;
    umapc_query_options_init(&defaults);
    if (opts == NULL) {
        opts = &defaults;
    }
    if (nq == 0) {
        return UMAPC_OK;
    }
    query_plan qp = {index, k, opts->ef ? opts->ef : hnsw_default_ef(k), opts->filter_mask, NULL, 0,
                     NULL,  0};
    if (qp.ef < k) {
        qp.ef = k;
    }
    /* A beam wider than the index holds nothing more (a search visits each node once), and an
     * unbounded one would size the per-thread buffers from a caller's number. */
    if (qp.ef > index->n) {
        qp.ef = index->n > k ? index->n : k;
    }
    float *owned = NULL;
    const float *rows =
        metric_search_rows(&index->space.plan.metric, queries, nq, index->dim, &owned);
    if (rows == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: cannot normalise %zu queries", nq);
    }
    umapc_status st = UMAPC_ERR_OUT_OF_MEMORY;
    if ((qp.mask == NULL || plan_mask(&qp, err) == 0) &&
        zero_queries(&qp, rows, nq, err) == UMAPC_OK) {
        st = run_queries(&qp, rows, nq, umapc_resolve_threads(opts->n_threads), progress, indices,
                         distances, err);
    }
    free(qp.allowed);
    free(qp.zero);
    free(owned);
    return st;
}
