/* Internal layout of the HNSW index, shared by its build, search, I/O and k-NN graph code. */
#ifndef UMAPC_SRC_HNSW_INTERNAL_H
#define UMAPC_SRC_HNSW_INTERNAL_H

#include "internal.h"
#include "metric.h"
#include "umapc/hnsw.h"

#define HNSW_NONE      UINT32_MAX /* unused link slot; lists are a prefix of ids then NONE */
#define HNSW_MAX_LEVEL 30
#define HNSW_MAX_M     1024

/* How a node's row is stored in its layer-0 block. */
typedef enum hnsw_rows {
    HNSW_ROWS_FLOAT = 0, /* the prepared float row */
    HNSW_ROWS_CODES      /* a code item (see below): lossless 8-bit codes of integer data */
} hnsw_rows;

/* Layer 0 of every node lives in one block of `stride` bytes: M0 link slots, then the row, so one
 * node's links and its vector are contiguous (one prefetch stream). Upper layers exist for about
 * 1/M of the nodes only; they are found through the sorted `upper_ids` (no per-node pointer, which
 * would cost 8 bytes on every node).
 *
 * Euclidean data of integers spanning at most 255 in every column (pixels, SIFT) is stored as
 * 8-bit codes, row - code_lo: distances between codes are exactly the squared distances of the
 * rows, at a quarter of the memory and the memory traffic. */
struct umapc_hnsw {
    /* Float rows. The angular metrics are measured as 1 - <a,b>, which zero queries
     * (hnsw_zero_answer) and near results (hnsw_refine_near) make up for. */
    metric_space space;
    float *params; /* the heap copy space.plan.metric.params points at (NULL without params) */
    size_t dim;
    size_t n;   /* nodes stored and linked */
    size_t cap; /* nodes the blocks have room for */
    size_t M, M0, ef_construction;
    uint64_t seed;
    hnsw_rows rows;
    int allow_codes;   /* build option: store codes when lossless */
    float *code_lo;    /* HNSW_ROWS_CODES: dim column offsets */
    size_t stride;     /* bytes per layer-0 block */
    size_t vec_offset; /* bytes from block start to the row */
    unsigned char *base;
    uint8_t *levels;
    uint32_t *upper_ids;   /* nodes with level > 0, ascending */
    uint64_t *upper_start; /* offset of each upper node's lists in upper_pool */
    size_t n_upper, upper_cap;
    uint32_t *upper_pool; /* for each upper node, level lists of M slots */
    size_t pool_size, pool_cap;
    int max_level; /* -1 while empty */
    uint32_t entry;
};

typedef struct hnsw_pair {
    float d;
    uint32_t id;
} hnsw_pair;

static inline int hnsw_pair_less(hnsw_pair a, hnsw_pair b) {
    return a.d < b.d || (a.d == b.d && a.id < b.id);
}

static inline const float *hnsw_vec(const umapc_hnsw *h, uint32_t u) {
    return (const float *)(h->base + (size_t)u * h->stride + h->vec_offset);
}

static inline uint32_t *hnsw_links0(const umapc_hnsw *h, uint32_t u) {
    return (uint32_t *)(h->base + (size_t)u * h->stride);
}

/* Slots of node u at level (>= 1); u must have that level. */
uint32_t *hnsw_upper_links(const umapc_hnsw *h, uint32_t u, int level);

static inline uint32_t *hnsw_links(const umapc_hnsw *h, uint32_t u, int level, size_t *cap) {
    if (level == 0) {
        *cap = h->M0;
        return hnsw_links0(h, u);
    }
    *cap = h->M;
    return hnsw_upper_links(h, u, level);
}

static inline size_t hnsw_count(const uint32_t *links, size_t cap) {
    size_t c = 0;
    while (c < cap && links[c] != HNSW_NONE) {
        c++;
    }
    return c;
}

/* A code item: int32 |c|^2, int32 128 * sum(c), then the dim code bytes c. The two sums make the
 * squared distance of two items one VNNI dot product (src/core/codes.h). */
#define HNSW_ITEM_HEADER 8
static inline size_t hnsw_item_bytes(size_t dim) {
    return HNSW_ITEM_HEADER + dim;
}
void hnsw_item_fill(uint8_t *item, size_t dim); /* the header from the codes already there */

/* Item vs item (both code items), in squared code units. */
typedef float (*hnsw_code_fn)(const uint8_t *a, const uint8_t *b, size_t dim);
/* A float query in code units (row - code_lo, times the scale) vs a code item. */
typedef float (*hnsw_mixed_fn)(const float *q, const uint8_t *item, size_t dim);

typedef enum hnsw_view_kind {
    HNSW_VIEW_FLOAT = 0,      /* float rows, float query: h->space */
    HNSW_VIEW_CODES,          /* code items, code-item query */
    HNSW_VIEW_FLOAT_VS_CODES, /* code items, float query in code units */
} hnsw_view_kind;

/* What a search measures distances on: the index's own rows, or a compact 8-bit copy of float
 * rows (4x less memory traffic) used while building and for the all-points graph. */
typedef struct hnsw_view {
    const umapc_hnsw *h;
    const unsigned char *base; /* item u at base + u * stride + offset */
    size_t stride, offset;
    size_t bytes; /* item size, for prefetching */
    hnsw_view_kind kind;
    hnsw_code_fn code_dist;
    hnsw_mixed_fn mixed_dist;
} hnsw_view;

static inline const void *hnsw_item(const hnsw_view *v, uint32_t u) {
    return v->base + (size_t)u * v->stride + v->offset;
}

static inline float hnsw_vdist(const hnsw_view *v, const void *q, uint32_t u) {
    switch (v->kind) {
    case HNSW_VIEW_CODES:
        return v->code_dist((const uint8_t *)q, (const uint8_t *)hnsw_item(v, u), v->h->dim);
    case HNSW_VIEW_FLOAT_VS_CODES:
        return v->mixed_dist((const float *)q, (const uint8_t *)hnsw_item(v, u), v->h->dim);
    default:
        return metric_space_dist(&v->h->space, (const float *)q, (const float *)hnsw_item(v, u));
    }
}

/* The first lines of an item. The hardware prefetcher follows the rest of a long row once the
 * stream has started; one prefetch per line of a 3 KB row cost more than it saved (measured on
 * Fashion-MNIST). */
#define HNSW_PREFETCH_LINES 2
static inline void hnsw_prefetch(const hnsw_view *v, uint32_t u) {
    const char *p = (const char *)hnsw_item(v, u);
    size_t end = v->bytes < 64 * HNSW_PREFETCH_LINES ? v->bytes : 64 * HNSW_PREFETCH_LINES;
    for (size_t off = 0; off < end; off += 64) {
        __builtin_prefetch(p + off, 0, 3);
    }
}

/* The index's own rows, measured against queries of their own kind (code items for coded rows). */
void hnsw_view_rows(hnsw_view *v, const umapc_hnsw *h);

/* 8-bit code items of the prepared rows for metrics searched by squared L2 on prepared rows
 * (euclidean, and the angular ones on normalised rows): one affine map with a single scale keeps
 * the order of squared distances up to rounding. */
typedef struct hnsw_codes {
    uint8_t *items; /* n items, `stride` bytes apart */
    size_t n, stride;
    float scale; /* code units per row unit */
    int exact;   /* code distances are the exact surrogate (the index stores code rows) */
    int owned;   /* items were allocated here (not the index's own) */
} hnsw_codes;

/* Code items of the first n rows of h (the index's own items when it stores codes); nonzero when
 * the metric does not allow them or memory is short (callers then search the float rows). */
int hnsw_codes_build(const umapc_hnsw *h, size_t n, int threads, hnsw_codes *out);
void hnsw_codes_free(hnsw_codes *c);
void hnsw_view_codes(hnsw_view *v, const umapc_hnsw *h, const hnsw_codes *c);

/* Whether an empty index can store these rows (prepared form) as lossless codes: euclidean,
 * integers, each column spanning at most 255. Fills lo with the column minima; 1 yes, 0 no, -1 out
 * of memory. */
int hnsw_rows_code_offsets(const umapc_hnsw *h, const float *rows, size_t count, int threads,
                           float *lo);
/* Whether more rows fit a coded index's codes (integers within 255 above h->code_lo). */
int hnsw_rows_fit_codes(const umapc_hnsw *h, const float *rows, size_t count);
/* Writes the code item of one prepared row (which must fit). */
void hnsw_encode_row(const umapc_hnsw *h, const float *row, uint8_t *item);
/* Switches a coded index to float rows (rows that do not fit the codes are about to be added);
 * nonzero when out of memory (the index is then unchanged). */
int hnsw_rows_to_floats(umapc_hnsw *h);
/* The float row of node u, decoded when the index stores codes. */
void hnsw_row(const umapc_hnsw *h, uint32_t u, float *out);

/* A prepared query against the index's rows: fills buf (4 * dim + HNSW_ITEM_HEADER bytes at
 * least) and v; returns the query pointer for hnsw_vdist. */
const void *hnsw_query_view(const umapc_hnsw *h, const float *prepared, void *buf, hnsw_view *v);

/* Per-thread search state: visited tags with an epoch (no clearing between searches; one byte per
 * node, so the tags of a 60k-node index fit in L1/L2 and are cleared once every 255 searches),
 * and two heaps that grow on demand. */
typedef struct hnsw_scratch {
    uint8_t *tags;
    size_t n_tags;
    uint8_t epoch;
    hnsw_pair *cand; /* min-heap of nodes to expand */
    size_t n_cand, cap_cand;
    hnsw_pair *res; /* the best ef found: a max-heap, or ascending when res_sorted */
    size_t n_res, cap_res;
    int res_sorted;
    uint32_t *gather; /* unvisited neighbours of the node being expanded */
    float *query;     /* prepared query row */
    void *query_item; /* the query as the index's rows are stored (hnsw_query_view) */
    int failed;       /* an allocation failed */
} hnsw_scratch;

int hnsw_scratch_init(hnsw_scratch *s, size_t n_tags, size_t M0, size_t dim);
void hnsw_scratch_free(hnsw_scratch *s);
/* Starts a new search: every node reads as unvisited. */
void hnsw_scratch_new_epoch(hnsw_scratch *s);

static inline int hnsw_visit(hnsw_scratch *s, uint32_t u) {
    if (s->tags[u] == s->epoch) {
        return 0;
    }
    s->tags[u] = s->epoch;
    return 1;
}

/* Greedy walk at `level` from *cur (distance *cur_d) to a local minimum. */
void hnsw_greedy(const hnsw_view *v, const void *q, int level, uint32_t *cur, float *cur_d);

/* Beam search at `level` from n_eps entry points (already marked visited by the caller through
 * hnsw_scratch_new_epoch + hnsw_visit, distances filled). Leaves the best ef allowed nodes in
 * s->res as a max-heap. mask: NULL or one byte per node, nonzero = may be returned. */
void hnsw_search_layer(const hnsw_view *v, hnsw_scratch *s, const void *q, const hnsw_pair *eps,
                       size_t n_eps, size_t ef, int level, const uint8_t *mask);

/* Pops s->res into out, ascending; returns the count. */
size_t hnsw_drain_sorted(hnsw_scratch *s, hnsw_pair *out);

/* The neighbour-selection heuristic on cand (ascending, distances to the base point): keeps a
 * candidate unless a kept one is strictly closer to it than the base point is. Identical vectors
 * never occlude other candidates (a kept copy is as far from a candidate as the base point), so
 * duplicate clusters keep their links out; at most two copies are kept. Returns the number
 * kept, written to out (may alias cand). */
size_t hnsw_select(const hnsw_view *v, uint32_t base, const hnsw_pair *cand, size_t n_cand,
                   size_t max_keep, hnsw_pair *out);

int hnsw_cmp_pair(const void *a, const void *b);

/* The distances a search reports, for cosine, correlation and hellinger on float rows: results
 * res[0..n) (ascending, distances to the prepared query q) nearer than METRIC_NEAR_PAIR get
 * metric_surrogate's value, which keeps its relative precision (1 - <a,b> in float rounds a
 * row's distance to itself up to 6e-8, 2.4e-4 after hellinger's square root); the order is then
 * restored. Other metrics and views are left as they are. */
void hnsw_refine_near(const umapc_hnsw *h, const float *q, hnsw_pair *res, size_t n);

/* Under cosine, correlation and hellinger a row that prepares to all zeros (a zero row; a constant
 * one for correlation) is at 0 from the other zero rows and at 1 from every other row
 * (metric_surrogate's convention), which 1 - <a,b> cannot tell apart: it is 1 for all of them.
 * Searches for such a query are answered from the index's list of zero rows instead.
 *
 * hnsw_zero_query: whether searches for prepared query q take that answer (the metric is one of
 * the three, the rows are floats, q is all zeros). */
int hnsw_zero_query(const umapc_hnsw *h, const float *q);
/* The ascending ids of the first n rows that are all zeros, in a new array (*ids, to free), or
 * NULL with *count 0 when there are none. Returns -1 when out of memory. */
int hnsw_zero_rows(const umapc_hnsw *h, size_t n, uint32_t **ids, size_t *count);
/* The k nearest rows to a zero query, in surrogate units: the zero rows zero[0..n_zero) at 0, then
 * the other rows at 1, each in id order, leaving out `skip` (HNSW_NONE: none) and rows outside
 * mask (NULL: all allowed). Writes up to k pairs to out; returns how many. */
size_t hnsw_zero_answer(const umapc_hnsw *h, const uint32_t *zero, size_t n_zero,
                        const uint8_t *mask, uint32_t skip, size_t k, hnsw_pair *out);

/* Beam width for k results when the caller leaves it to us: wide enough for recall@k >= 0.95 on
 * the benchmark sets at the default M. */
static inline size_t hnsw_default_ef(size_t k) {
    size_t ef = 2 * k + 16;
    return ef < 40 ? 40 : ef;
}

/* An empty index (no rows, no storage) with its parameters set; NULL when out of memory. */
umapc_hnsw *hnsw_alloc(const umapc_metric *metric, size_t dim, size_t M, size_t ef_construction,
                       uint64_t seed);
/* Sets how rows are stored (an empty index only; code_lo: dim offsets for codes, copied). */
int hnsw_set_rows(umapc_hnsw *h, hnsw_rows rows, const float *code_lo);
/* Makes room for `total` nodes, keeping the first h->n blocks; nonzero when out of memory. */
int hnsw_reserve(umapc_hnsw *h, size_t total);

/* umapc_hnsw_build's argument checks; on success *out is an empty index with the options set. */
umapc_status hnsw_new_index(const umapc_metric *metric, const float *data, size_t n, size_t dim,
                            const umapc_hnsw_options *opts, umapc_hnsw **out, umapc_error *err);
/* Stores `count` rows (search form) after the first h->n, unlinked: the storage (codes when
 * lossless) chosen as an insertion chooses it, the random levels drawn, empty lists. h->n is left
 * as it is. Nonzero when out of memory. */
int hnsw_store_unlinked(umapc_hnsw *h, const float *data, size_t count, int threads);

/* Exact scan over ids[0..n_ids): leaves the best k in s->res (max-heap). */
void hnsw_scan(const hnsw_view *v, hnsw_scratch *s, const void *q, const uint32_t *ids,
               size_t n_ids, size_t k);

#endif
