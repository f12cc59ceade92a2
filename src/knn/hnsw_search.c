/* HNSW search primitives: heaps, greedy descent, beam search, neighbour selection. Read-only on the
 * graph, so any number of threads may search at once. */
#include "hnsw_internal.h"

#include <stdlib.h>
#include <string.h>

uint32_t *hnsw_upper_links(const umapc_hnsw *h, uint32_t u, int level) {
    size_t lo = 0, hi = h->n_upper;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->upper_ids[mid] < u) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return h->upper_pool + h->upper_start[lo] + (size_t)(level - 1) * h->M;
}

int hnsw_scratch_init(hnsw_scratch *s, size_t n_tags, size_t M0, size_t dim) {
    memset(s, 0, sizeof *s);
    s->tags = calloc(n_tags ? n_tags : 1, sizeof *s->tags);
    s->n_tags = n_tags;
    s->cap_cand = 256;
    s->cap_res = 256;
    s->cand = malloc(s->cap_cand * sizeof *s->cand);
    s->res = malloc(s->cap_res * sizeof *s->res);
    s->gather = malloc((M0 + 1) * sizeof *s->gather);
    s->query = umapc_aligned_alloc(dim ? dim : 1, sizeof(float));
    s->query_item = umapc_aligned_alloc(dim + HNSW_ITEM_HEADER, sizeof(float));
    s->failed = !(s->tags && s->cand && s->res && s->gather && s->query && s->query_item);
    return s->failed ? -1 : 0;
}

void hnsw_scratch_free(hnsw_scratch *s) {
    free(s->tags);
    free(s->cand);
    free(s->res);
    free(s->gather);
    umapc_aligned_free(s->query);
    umapc_aligned_free(s->query_item);
    memset(s, 0, sizeof *s);
}

void hnsw_scratch_new_epoch(hnsw_scratch *s) {
    s->epoch++;
    if (s->epoch == 0) { /* wrapped: stale tags could now read as visited */
        memset(s->tags, 0, s->n_tags * sizeof *s->tags);
        s->epoch = 1;
    }
}

static int grow(hnsw_pair **heap, size_t *cap, size_t need) {
    if (need <= *cap) {
        return 0;
    }
    size_t ncap = *cap <= SIZE_MAX / 2 && *cap * 2 > need ? *cap * 2 : need;
    size_t bytes = umapc_mul_size(ncap, sizeof(hnsw_pair));
    /* SIZE_MAX marks an overflowed product; realloc(p, 0) would free the heap. */
    hnsw_pair *p = bytes == SIZE_MAX || bytes == 0 ? NULL : realloc(*heap, bytes);
    if (p == NULL) {
        return -1;
    }
    *heap = p;
    *cap = ncap;
    return 0;
}

/* Min-heap on (d, id) for candidates. */
static void min_push(hnsw_pair *h, size_t *n, hnsw_pair x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hnsw_pair_less(x, h[p])) {
            break;
        }
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static hnsw_pair min_pop(hnsw_pair *h, size_t *n) {
    hnsw_pair top = h[0];
    hnsw_pair x = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) {
            break;
        }
        if (c + 1 < m && hnsw_pair_less(h[c + 1], h[c])) {
            c++;
        }
        if (!hnsw_pair_less(h[c], x)) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

/* Max-heap on (d, id) for results. */
static void max_push(hnsw_pair *h, size_t *n, hnsw_pair x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hnsw_pair_less(h[p], x)) {
            break;
        }
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static hnsw_pair max_pop(hnsw_pair *h, size_t *n) {
    hnsw_pair top = h[0];
    hnsw_pair x = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) {
            break;
        }
        if (c + 1 < m && hnsw_pair_less(h[c], h[c + 1])) {
            c++;
        }
        if (!hnsw_pair_less(x, h[c])) {
            break;
        }
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

void hnsw_greedy(const hnsw_view *v, const void *q, int level, uint32_t *cur, float *cur_d) {
    const umapc_hnsw *h = v->h;
    int changed = 1;
    while (changed) {
        changed = 0;
        size_t cap;
        const uint32_t *links = hnsw_links(h, *cur, level, &cap);
        size_t cnt = hnsw_count(links, cap);
        for (size_t j = 0; j < cnt; j++) {
            if (j + 1 < cnt) {
                hnsw_prefetch(v, links[j + 1]);
            }
            float d = hnsw_vdist(v, q, links[j]);
            if (d < *cur_d || (d == *cur_d && links[j] < *cur)) {
                *cur_d = d;
                *cur = links[j];
                changed = 1;
            }
        }
    }
}

static void offer(hnsw_scratch *s, hnsw_pair x, size_t ef, const uint8_t *mask) {
    if (s->n_res == ef && !hnsw_pair_less(x, s->res[0])) {
        return;
    }
    if (grow(&s->cand, &s->cap_cand, s->n_cand + 1) != 0) {
        s->failed = 1;
        return;
    }
    min_push(s->cand, &s->n_cand, x);
    if (mask == NULL || mask[x.id]) {
        max_push(s->res, &s->n_res, x);
        if (s->n_res > ef) {
            (void)max_pop(s->res, &s->n_res);
        }
    }
}

static size_t gather_unvisited(const hnsw_view *v, hnsw_scratch *s, uint32_t c, int level) {
    size_t cap;
    const uint32_t *links = hnsw_links(v->h, c, level, &cap);
    uint8_t *restrict tags = s->tags; /* locals: stores through tags cannot alias them */
    uint32_t *restrict gather = s->gather;
    const uint8_t epoch = s->epoch;
    size_t cnt = hnsw_count(links, cap), m = 0;
    for (size_t j = 0; j < cnt; j++) {
        uint32_t u = links[j];
        if (tags[u] != epoch) {
            tags[u] = epoch;
            gather[m++] = u;
        }
    }
    return m;
}

/* Filtered search: a candidate heap over every node reached and a result heap of allowed ones only,
 * since the walk must pass through excluded nodes. */
static void search_heaps(const hnsw_view *v, hnsw_scratch *s, const void *q, const hnsw_pair *eps,
                         size_t n_eps, size_t ef, int level, const uint8_t *mask) {
    const umapc_hnsw *h = v->h;
    s->n_cand = 0;
    s->n_res = 0; /* hnsw_search_layer made room for ef + 1 results */
    for (size_t i = 0; i < n_eps; i++) {
        offer(s, eps[i], ef, mask);
    }
    while (s->n_cand > 0) {
        hnsw_pair c = min_pop(s->cand, &s->n_cand);
        if (s->n_res == ef && hnsw_pair_less(s->res[0], c)) {
            break;
        }
        if (s->n_cand > 0 && level == 0) { /* the next expansion's links, while we work */
            __builtin_prefetch(hnsw_links0(h, s->cand[0].id), 0, 3);
        }
        size_t m = gather_unvisited(v, s, c.id, level);
        if (m > 0) {
            hnsw_prefetch(v, s->gather[0]);
        }
        for (size_t j = 0; j < m; j++) {
            if (j + 1 < m) {
                hnsw_prefetch(v, s->gather[j + 1]);
            }
            hnsw_pair x = {hnsw_vdist(v, q, s->gather[j]), s->gather[j]};
            offer(s, x, ef, mask);
        }
    }
}

/* Unfiltered search keeps one array of the best ef nodes found, sorted by (distance, id), with the
 * expanded ones marked in the top bit of the id; the next node to expand is the first unmarked
 * one. Same beam as the two heaps of the paper, but inserting is a short memmove in one or two
 * cache lines and the result comes out sorted. */
#define POOL_DONE 0x80000000u

static inline int pool_less(hnsw_pair x, hnsw_pair p) {
    uint32_t pid = p.id & ~POOL_DONE;
    return x.d < p.d || (x.d == p.d && x.id < pid);
}

/* Inserts x unless the pool is full of better nodes; returns its position, or n when left out.
 * Most new nodes land near the end of the pool, so shifting from the end beats a binary search
 * and a memmove call. */
static size_t pool_insert(hnsw_pair *pool, size_t *n, size_t ef, hnsw_pair x) {
    size_t m = *n;
    if (m == ef && !pool_less(x, pool[m - 1])) {
        return m;
    }
    size_t pos = m == ef ? m - 1 : m;
    while (pos > 0 && pool_less(x, pool[pos - 1])) {
        pool[pos] = pool[pos - 1];
        pos--;
    }
    pool[pos] = x;
    *n = m == ef ? m : m + 1;
    return pos;
}

static void search_pool(const hnsw_view *v, hnsw_scratch *s, const void *q, const hnsw_pair *eps,
                        size_t n_eps, size_t ef, int level) {
    hnsw_pair *pool = s->res;
    size_t n = 0, cursor = 0;
    for (size_t i = 0; i < n_eps; i++) {
        (void)pool_insert(pool, &n, ef, eps[i]);
    }
    while (cursor < n) {
        uint32_t c = pool[cursor].id;
        pool[cursor].id |= POOL_DONE;
        size_t m = gather_unvisited(v, s, c, level);
        if (m > 0) {
            hnsw_prefetch(v, s->gather[0]);
        }
        size_t next = cursor + 1;
        for (size_t j = 0; j < m; j++) {
            if (j + 1 < m) {
                hnsw_prefetch(v, s->gather[j + 1]);
            }
            hnsw_pair x = {hnsw_vdist(v, q, s->gather[j]), s->gather[j]};
            size_t at = pool_insert(pool, &n, ef, x);
            next = at < next ? at : next;
        }
        while (next < n && (pool[next].id & POOL_DONE)) {
            next++;
        }
        if (next < n && level == 0) { /* the next expansion's links, while we sort ours */
            __builtin_prefetch(hnsw_links0(v->h, pool[next].id), 0, 3);
        }
        cursor = next;
    }
    for (size_t i = 0; i < n; i++) {
        pool[i].id &= ~POOL_DONE;
    }
    s->n_res = n;
    s->res_sorted = 1;
}

void hnsw_search_layer(const hnsw_view *v, hnsw_scratch *s, const void *q, const hnsw_pair *eps,
                       size_t n_eps, size_t ef, int level, const uint8_t *mask) {
    s->res_sorted = 0;
    if (grow(&s->res, &s->cap_res, ef + 1) != 0) {
        s->failed = 1;
        s->n_res = 0;
        return;
    }
    if (mask == NULL) {
        search_pool(v, s, q, eps, n_eps, ef, level);
    } else {
        search_heaps(v, s, q, eps, n_eps, ef, level, mask);
    }
}

size_t hnsw_drain_sorted(hnsw_scratch *s, hnsw_pair *out) {
    size_t n = s->n_res;
    if (s->res_sorted) {
        memcpy(out, s->res, n * sizeof *out);
        s->n_res = 0;
        s->res_sorted = 0;
        return n;
    }
    while (s->n_res > 0) {
        out[s->n_res - 1] = max_pop(s->res, &s->n_res);
    }
    return n;
}

/* Among exact duplicates of the base point, a pseudo-random pair per base point: picking by id
 * would send every copy to the same lowest-id copies and leave the rest of the clique unreachable.
 */
static size_t pick_duplicates(uint32_t base, const hnsw_pair *cand, size_t n_zero, hnsw_pair *out) {
    size_t kept = 0;
    uint64_t best[2] = {UINT64_MAX, UINT64_MAX};
    hnsw_pair pick[2];
    for (size_t i = 0; i < n_zero; i++) {
        uint64_t key = umapc_hash64(((uint64_t)base << 32) ^ cand[i].id);
        if (key < best[1]) {
            if (key < best[0]) {
                best[1] = best[0];
                pick[1] = pick[0];
                best[0] = key;
                pick[0] = cand[i];
            } else {
                best[1] = key;
                pick[1] = cand[i];
            }
        }
    }
    for (size_t j = 0; j < 2 && j < n_zero; j++) {
        out[kept++] = pick[j];
    }
    return kept;
}

size_t hnsw_select(const hnsw_view *v, uint32_t base, const hnsw_pair *cand, size_t n_cand,
                   size_t max_keep, hnsw_pair *out) {
    size_t n_zero = 0;
    if (v->kind != HNSW_VIEW_FLOAT || v->h->space.mode != METRIC_SPACE_NEG_DOT) {
        while (n_zero < n_cand && cand[n_zero].d <= 0.0f) {
            n_zero++;
        }
    }
    hnsw_pair dup[2];
    size_t kept = pick_duplicates(base, cand, n_zero, dup);
    kept = kept < max_keep ? kept : max_keep;
    memcpy(out, dup, kept * sizeof *out); /* out may alias cand: dup was copied out first */
    for (size_t i = n_zero; i < n_cand && kept < max_keep; i++) {
        hnsw_pair c = cand[i];
        const void *cv = hnsw_item(v, c.id);
        int good = 1;
        for (size_t j = 0; j < kept; j++) {
            if (hnsw_vdist(v, cv, out[j].id) < c.d) {
                good = 0;
                break;
            }
        }
        if (good) {
            out[kept++] = c;
        }
    }
    return kept;
}

int hnsw_cmp_pair(const void *a, const void *b) {
    hnsw_pair x = *(const hnsw_pair *)a, y = *(const hnsw_pair *)b;
    return hnsw_pair_less(x, y) ? -1 : (hnsw_pair_less(y, x) ? 1 : 0);
}

void hnsw_refine_near(const umapc_hnsw *h, const float *q, hnsw_pair *res, size_t n) {
    if (h->space.mode != METRIC_SPACE_ONE_MINUS_DOT || h->rows != HNSW_ROWS_FLOAT) {
        return;
    }
    int changed = 0;
    for (size_t j = 0; j < n; j++) {
        if (res[j].d < METRIC_NEAR_PAIR) {
            res[j].d = metric_surrogate(&h->space.plan, q, hnsw_vec(h, res[j].id), h->dim);
            changed = 1;
        }
    }
    for (size_t j = 1; changed && j < n; j++) { /* insertion sort: at most a few near ties move */
        hnsw_pair x = res[j];
        size_t i = j;
        for (; i > 0 && hnsw_pair_less(x, res[i - 1]); i--) {
            res[i] = res[i - 1];
        }
        res[i] = x;
    }
}

int hnsw_zero_query(const umapc_hnsw *h, const float *q) {
    return h->space.mode == METRIC_SPACE_ONE_MINUS_DOT && h->rows == HNSW_ROWS_FLOAT &&
           metric_row_is_zero(q, h->dim);
}

int hnsw_zero_rows(const umapc_hnsw *h, size_t n, uint32_t **ids, size_t *count) {
    *ids = NULL;
    *count = 0;
    if (h->space.mode != METRIC_SPACE_ONE_MINUS_DOT || h->rows != HNSW_ROWS_FLOAT) {
        return 0;
    }
    size_t found = 0, cap = 0;
    for (size_t u = 0; u < n; u++) {
        if (!metric_row_is_zero(hnsw_vec(h, (uint32_t)u), h->dim)) {
            continue;
        }
        if (found == cap) {
            cap = cap ? 2 * cap : 64;
            uint32_t *grown = realloc(*ids, cap * sizeof *grown);
            if (grown == NULL) {
                free(*ids);
                *ids = NULL;
                return -1;
            }
            *ids = grown;
        }
        (*ids)[found++] = (uint32_t)u;
    }
    *count = found;
    return 0;
}

size_t hnsw_zero_answer(const umapc_hnsw *h, const uint32_t *zero, size_t n_zero,
                        const uint8_t *mask, uint32_t skip, size_t k, hnsw_pair *out) {
    size_t m = 0;
    for (size_t z = 0; z < n_zero && m < k; z++) {
        if (zero[z] != skip && (mask == NULL || mask[zero[z]])) {
            out[m++] = (hnsw_pair){0.0f, zero[z]};
        }
    }
    size_t z = 0; /* walks the sorted zero ids alongside u to leave them out */
    for (size_t u = 0; u < h->n && m < k; u++) {
        while (z < n_zero && zero[z] < u) {
            z++;
        }
        if ((z < n_zero && zero[z] == u) || u == skip || (mask != NULL && !mask[u])) {
            continue;
        }
        out[m++] = (hnsw_pair){1.0f, (uint32_t)u};
    }
    return m;
}

void hnsw_scan(const hnsw_view *v, hnsw_scratch *s, const void *q, const uint32_t *ids,
               size_t n_ids, size_t k) {
    s->n_res = 0;
    s->res_sorted = 0;
    if (grow(&s->res, &s->cap_res, k + 1) != 0) {
        s->failed = 1;
        return;
    }
    for (size_t i = 0; i < n_ids; i++) {
        if (i + 1 < n_ids) {
            hnsw_prefetch(v, ids[i + 1]);
        }
        hnsw_pair x = {hnsw_vdist(v, q, ids[i]), ids[i]};
        if (s->n_res < k) {
            max_push(s->res, &s->n_res, x);
        } else if (hnsw_pair_less(x, s->res[0])) {
            (void)max_pop(s->res, &s->n_res);
            max_push(s->res, &s->n_res, x);
        }
    }
}
