/* HNSW index from k-NN graphs instead of insertion searches (what pynndescent does for its search
 * graph): a caller that already holds the all-points graph (a UMAP fit) gets the index for a few
 * distances per link instead of an ef_construction beam search per row.
 *
 * Each layer is linked in the two steps of an insertion. First every node picks its own M links
 * with the insertion's heuristic from its k-NN list and the nodes whose lists hold it (the search
 * results an insertion would have), measured in the build view's units. Then every node takes the
 * links to it as back-links, kept while they fit its list and diversified again when they do not.
 * Layer 0 takes the caller's graph; each upper layer l takes a k-NN graph of the nodes of level
 * >= l among themselves, made by NN-descent. Each pass reads only inputs fixed before it starts,
 * so the index depends on the seed only, not on the threads. */
#include "hnsw_internal.h"
#include "parallel.h"
#include "umapc/nndescent.h"

#include <stdlib.h>
#include <string.h>

#define HNSW_GRAPH_STREAM 0x6772617068ULL

/* One pass over a layer. Nodes are numbered locally 0..m; ids maps them to index ids (NULL: the
 * same). Each node's candidates are its row of `lists` (width k, local ids, -1: none; the node
 * itself is skipped) and the nodes whose rows hold it (at most rev_cap of those, the nearest). */
typedef struct layer_pass {
    const umapc_hnsw *h;
    const hnsw_view *view;
    int level;
    size_t m;
    const uint32_t *ids; /* ascending */
    const umapc_idx *lists;
    size_t k, rev_cap;
    const size_t *rev_start; /* m + 1 offsets into rev */
    const uint32_t *rev;     /* local sources of the edges into each node, ascending */
    size_t max_rev;          /* longest reverse list */
    umapc_idx *picks;        /* the first pass's output: M local ids per node; NULL: the second */
} layer_pass;

static uint32_t global_id(const layer_pass *p, size_t local) {
    return p->ids != NULL ? p->ids[local] : (uint32_t)local;
}

static umapc_idx local_id(const layer_pass *p, uint32_t id) {
    if (p->ids == NULL) {
        return (umapc_idx)id;
    }
    size_t lo = 0, hi = p->m;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->ids[mid] <= id) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return (umapc_idx)lo;
}

/* The reverse lists of p->lists (sources ascending); nonzero when out of memory. */
static int reverse_edges(layer_pass *p, size_t **start_out, uint32_t **rev_out) {
    size_t m = p->m, k = p->k;
    size_t *start = calloc(m + 1, sizeof *start);
    size_t edges = 0;
    for (size_t i = 0; start != NULL && i < m * k; i++) {
        umapc_idx t = p->lists[i];
        if (t >= 0 && (size_t)t != i / k) {
            start[t + 1]++;
            edges++;
        }
    }
    uint32_t *rev = malloc((edges ? edges : 1) * sizeof *rev);
    size_t *fill = malloc((m ? m : 1) * sizeof *fill);
    if (start == NULL || rev == NULL || fill == NULL) {
        free(start);
        free(rev);
        free(fill);
        return -1;
    }
    p->max_rev = 0;
    for (size_t i = 0; i < m; i++) {
        p->max_rev = start[i + 1] > p->max_rev ? start[i + 1] : p->max_rev;
        start[i + 1] += start[i];
        fill[i] = start[i];
    }
    for (size_t i = 0; i < m * k; i++) {
        umapc_idx t = p->lists[i];
        if (t >= 0 && (size_t)t != i / k) {
            rev[fill[t]++] = (uint32_t)(i / k);
        }
    }
    free(fill);
    *start_out = start;
    *rev_out = rev;
    return 0;
}

/* Node i's candidates, ascending and without repeats. Returns the count. */
static size_t gather_candidates(const layer_pass *p, size_t i, hnsw_pair *buf) {
    const hnsw_view *v = p->view;
    const void *q = hnsw_item(v, global_id(p, i));
    size_t n = 0;
    for (size_t r = p->rev_start[i]; r < p->rev_start[i + 1]; r++) {
        uint32_t u = global_id(p, p->rev[r]);
        buf[n++] = (hnsw_pair){hnsw_vdist(v, q, u), u};
    }
    if (n > p->rev_cap) {
        qsort(buf, n, sizeof *buf, hnsw_cmp_pair);
        n = p->rev_cap;
    }
    for (size_t c = 0; c < p->k; c++) {
        umapc_idx t = p->lists[i * p->k + c];
        if (t >= 0 && (size_t)t != i) {
            uint32_t u = global_id(p, (size_t)t);
            buf[n++] = (hnsw_pair){hnsw_vdist(v, q, u), u};
        }
    }
    qsort(buf, n, sizeof *buf, hnsw_cmp_pair);
    size_t kept = 0;
    for (size_t c = 0; c < n; c++) { /* a repeat has the same distance, so it sorts next to it */
        if (kept == 0 || buf[c].id != buf[kept - 1].id) {
            buf[kept++] = buf[c];
        }
    }
    return kept;
}

static int pass_init(void *ctx, void *scratch) {
    const layer_pass *p = ctx;
    hnsw_pair **buf = scratch;
    *buf = malloc(2 * (p->max_rev + p->k + 1) * sizeof **buf); /* candidates, picks */
    return *buf != NULL ? 0 : -1;
}

/* Adds the nearest candidates the heuristic left out to its `kept` picks sel, up to `want`. The
 * k-NN candidates are few and all near (an insertion picks from ef_construction search results),
 * so the heuristic alone keeps a handful and leaves the layer too sparse to search at a small ef:
 * on 20k Fashion-MNIST rows, recall@10 at ef 40 went from 0.983 to 0.989 (cosine) against 0.992
 * for an insertion build (a one-off measurement while writing this, not in the benchmarks).
 * Returns the new count. */
static size_t top_up(const hnsw_pair *cand, size_t n, hnsw_pair *sel, size_t kept, size_t want) {
    for (size_t c = 0; c < n && kept < want; c++) {
        int present = 0;
        for (size_t s = 0; s < kept && !present; s++) {
            present = sel[s].id == cand[c].id;
        }
        if (!present) {
            sel[kept++] = cand[c];
        }
    }
    return kept;
}

/* First pass: a node's own M links, chosen as an insertion chooses them from its search results
 * (then topped up).
 * Second pass: those links and the back-links to the node, all kept while they fit the list and
 * diversified again when they do not, as an insertion's back-links are merged. */
static int pass_body(void *ctx, void *scratch, size_t lo, size_t hi) {
    const layer_pass *p = ctx;
    hnsw_pair *buf = *(hnsw_pair **)scratch;
    size_t M = p->h->M;
    for (size_t i = lo; i < hi; i++) {
        size_t n = gather_candidates(p, i, buf), cap;
        uint32_t u = global_id(p, i);
        uint32_t *links = hnsw_links(p->h, u, p->level, &cap);
        if (p->picks != NULL) {
            hnsw_pair *sel = buf + n;
            size_t kept = top_up(buf, n, sel, hnsw_select(p->view, u, buf, n, M, sel), M);
            for (size_t c = 0; c < M; c++) {
                p->picks[i * M + c] = c < kept ? local_id(p, sel[c].id) : -1;
            }
            continue;
        }
        size_t kept = n <= cap ? n : hnsw_select(p->view, u, buf, n, cap, buf);
        for (size_t c = 0; c < kept; c++) {
            links[c] = buf[c].id;
        }
    }
    return 0;
}

static int pass_finish(void *ctx, void *scratch) {
    (void)ctx;
    free(*(hnsw_pair **)scratch);
    return 0;
}

static umapc_status run_pass(layer_pass *p, int threads, const umapc_progress *progress,
                             umapc_error *err) {
    size_t *start = NULL;
    uint32_t *rev = NULL;
    if (reverse_edges(p, &start, &rev) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory for reverse edges");
    }
    p->rev_start = start;
    p->rev = rev;
    umapc_parallel_loop loop = {.n_items = p->m,
                                .chunk = 64,
                                .n_threads = threads,
                                .progress = progress,
                                .stage = p->level == 0 ? "hnsw build" : "hnsw build (upper)",
                                .report_every = 4096,
                                .oom_message = "hnsw: out of memory linking the graph",
                                .stop_message = "hnsw: build interrupted",
                                .ctx = p,
                                .scratch_size = sizeof(hnsw_pair *),
                                .init = pass_init,
                                .body = pass_body,
                                .finish = pass_finish};
    umapc_status st = umapc_parallel_for(&loop, err);
    free(start);
    free(rev);
    return st;
}

/* Links one layer from its k-NN graph (knn: m x k local ids) in the two passes. */
static umapc_status link_layer(const umapc_hnsw *h, const hnsw_view *view, int level, size_t m,
                               const uint32_t *ids, const umapc_idx *knn, size_t k, int threads,
                               const umapc_progress *progress, umapc_error *err) {
    size_t cap = level == 0 ? h->M0 : h->M;
    umapc_idx *picks = malloc(umapc_mul_size(m, h->M * sizeof *picks));
    if (picks == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory for layer %d", level);
    }
    layer_pass p = {.h = h, .view = view, .level = level, .m = m, .ids = ids};
    p.lists = knn;
    p.k = k;
    p.rev_cap = cap;
    p.picks = picks;
    umapc_status st = run_pass(&p, threads, progress, err);
    if (st == UMAPC_OK) {
        p.lists = picks;
        p.k = h->M;
        p.rev_cap = SIZE_MAX;
        p.picks = NULL;
        st = run_pass(&p, threads, progress, err);
    }
    free(picks);
    return st;
}

/* Upper layer `level`: the nodes of that level or above, their M nearest among themselves by
 * NN-descent on their search-form rows (exact where NN-descent finds that cheaper), linked. */
static umapc_status link_upper(umapc_hnsw *h, const hnsw_view *view, const float *rows, int level,
                               int threads, const umapc_progress *progress, umapc_error *err) {
    size_t m = 0;
    for (size_t i = 0; i < h->n_upper; i++) {
        m += h->levels[h->upper_ids[i]] >= level;
    }
    if (m < 2) {
        return UMAPC_OK;
    }
    size_t k = h->M + 1 < m ? h->M + 1 : m; /* the node itself comes first */
    uint32_t *ids = malloc(m * sizeof *ids);
    float *sub = malloc(umapc_mul_size(m, h->dim * sizeof *sub));
    umapc_idx *knn = malloc(m * k * sizeof *knn);
    float *dist = malloc(m * k * sizeof *dist);
    umapc_status st = UMAPC_ERR_OUT_OF_MEMORY;
    if (ids == NULL || sub == NULL || knn == NULL || dist == NULL) {
        umapc_fail(err, st, "hnsw: out of memory for layer %d (%zu nodes)", level, m);
    } else {
        for (size_t i = 0, at = 0; i < h->n_upper; i++) {
            uint32_t u = h->upper_ids[i];
            if (h->levels[u] >= level) {
                memcpy(sub + at * h->dim, rows + (size_t)u * h->dim, h->dim * sizeof *sub);
                ids[at++] = u;
            }
        }
        umapc_nndescent_options nd;
        umapc_nndescent_options_init(&nd);
        nd.n_threads = threads;
        nd.seed = umapc_rand_at(h->seed, HNSW_GRAPH_STREAM, (uint64_t)level);
        st = umapc_nndescent_knn_graph(&h->space.plan.metric, sub, m, h->dim, k, &nd, progress,
                                       NULL, knn, dist, err);
    }
    free(sub);
    free(dist);
    if (st == UMAPC_OK) {
        st = link_layer(h, view, level, m, ids, knn, k, threads, progress, err);
    }
    free(ids);
    free(knn);
    return st;
}

/* All layers of the stored rows [0, h->n), the top one first; the entry point as an insertion
 * in id order sets it (the first node of the highest level). */
static umapc_status link_all(umapc_hnsw *h, const float *rows, const umapc_idx *knn, size_t k,
                             int threads, const umapc_progress *progress, umapc_error *err) {
    h->max_level = 0;
    h->entry = 0;
    for (size_t i = 0; i < h->n_upper; i++) {
        if (h->levels[h->upper_ids[i]] > h->max_level) {
            h->max_level = h->levels[h->upper_ids[i]];
            h->entry = h->upper_ids[i];
        }
    }
    hnsw_view view;
    hnsw_codes codes;
    if (hnsw_codes_build(h, h->n, threads, &codes) == 0) {
        hnsw_view_codes(&view, h, &codes);
    } else {
        memset(&codes, 0, sizeof codes);
        hnsw_view_rows(&view, h);
    }
    umapc_status st = UMAPC_OK;
    for (int level = h->max_level; level >= 1 && st == UMAPC_OK; level--) {
        st = link_upper(h, &view, rows, level, threads, progress, err);
    }
    if (st == UMAPC_OK) {
        st = link_layer(h, &view, 0, h->n, NULL, knn, k, threads, progress, err);
    }
    hnsw_codes_free(&codes);
    return st;
}

static umapc_status check_graph(const umapc_idx *knn, size_t n, size_t k, umapc_error *err) {
    if (knn == NULL || k == 0 || umapc_mul_size(n, k) == SIZE_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "hnsw: the k-NN graph is missing or has k = 0");
    }
    for (size_t i = 0; i < n * k; i++) {
        if (knn[i] < -1 || knn[i] >= (umapc_idx)n) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "hnsw: k-NN graph row %zu holds id %d, outside [-1, %zu)", i / k,
                              (int)knn[i], n);
        }
    }
    return UMAPC_OK;
}

umapc_status umapc_hnsw_build_from_graph(const umapc_metric *metric, const float *data, size_t n,
                                         size_t dim, const umapc_hnsw_options *opts,
                                         const umapc_idx *knn_indices, size_t k,
                                         const umapc_progress *progress, umapc_hnsw **out,
                                         umapc_error *err) {
    umapc_status st = hnsw_new_index(metric, data, n, dim, opts, out, err);
    if (st != UMAPC_OK) {
        return st;
    }
    umapc_hnsw *h = *out;
    *out = NULL;
    st = check_graph(knn_indices, n, k, err);
    if (st != UMAPC_OK) {
        umapc_hnsw_free(h);
        return st;
    }
    int threads = umapc_resolve_threads(opts ? opts->n_threads : 0);
    float *owned = NULL;
    const float *rows = metric_search_rows(&h->space.plan.metric, data, n, dim, &owned);
    if (rows == NULL || hnsw_store_unlinked(h, rows, n, threads) != 0) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "hnsw: out of memory storing %zu rows", n);
    } else {
        h->n = n;
        st = link_all(h, rows, knn_indices, k, threads, progress, err);
    }
    free(owned);
    if (st != UMAPC_OK) {
        umapc_hnsw_free(h);
        h = NULL;
    }
    *out = h;
    return st;
}
