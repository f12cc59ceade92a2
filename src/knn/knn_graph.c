/* All-points k-NN graph from an HNSW index. Every point is already in the graph, so its search
 * starts at itself on layer 0: no descent, and the first expansions are its own links, which the
 * build chose among its nearest neighbours. */
#include "hnsw_internal.h"
#include "parallel.h"
#include "umapc/knn_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void umapc_knn_graph_options_init(umapc_knn_graph_options *opts) {
    opts->n_threads = 0;
    opts->target_recall = 0.99;
}

/* Beam width for the self-searches: recall@k >= 0.99 on the benchmark sets needs a beam a good
 * deal wider than k; lower targets get narrower beams. */
static size_t knn_ef(size_t k, double target_recall) {
    double scale = target_recall >= 0.99 ? 2.0 : (target_recall >= 0.95 ? 1.5 : 1.0);
    size_t ef = (size_t)(scale * (double)k) + 16;
    return ef < 32 ? 32 : ef;
}

typedef struct zero_list {
    uint32_t *ids; /* rows that prepare to all zeros (hnsw_zero_rows) */
    size_t n;
} zero_list;

/* Searches from i itself on the traversal view. With lossless codes their distances are the
 * exact ones; otherwise the best candidates are re-ranked on the float rows with metric_surrogate
 * so reported distances (and the order near the k-th) are exact, near pairs of the angular
 * metrics included. */
static void self_search(const hnsw_view *v, const hnsw_codes *codes, const zero_list *zero,
                        hnsw_scratch *s, hnsw_pair *buf, uint32_t i, size_t k, size_t ef,
                        umapc_idx *indices, float *distances) {
    const umapc_hnsw *h = v->h;
    size_t m = 0;
    if (zero->n > 0 && hnsw_zero_query(h, hnsw_vec(h, i))) {
        /* a zero row: the other zero rows at 0, then other rows at 1 (no search tells them
         * apart) */
        m = hnsw_zero_answer(h, zero->ids, zero->n, NULL, i, k - 1, buf);
    } else {
        const void *q = hnsw_item(v, i);
        hnsw_scratch_new_epoch(s);
        hnsw_visit(s, i);
        hnsw_pair ep = {hnsw_vdist(v, q, i), i};
        hnsw_search_layer(v, s, q, &ep, 1, ef, 0, NULL);
        size_t found = hnsw_drain_sorted(s, buf);
        int rerank = codes == NULL || !codes->exact;
        size_t keep = rerank ? (found < k + 8 ? found : k + 8) : found;
        for (size_t r = 0; r < keep; r++) {
            if (buf[r].id != i) { /* codes are lossy only for float rows, so hnsw_vec is valid */
                float d = rerank ? metric_surrogate(&h->space.plan, hnsw_vec(h, i),
                                                    hnsw_vec(h, buf[r].id), h->dim)
                                 : buf[r].d;
                buf[m++] = (hnsw_pair){d, buf[r].id};
            }
        }
        if (rerank) {
            qsort(buf, m, sizeof *buf, hnsw_cmp_pair);
        }
    }
    indices[0] = (umapc_idx)i;
    distances[0] = 0.0f;
    size_t j = 1;
    for (size_t r = 0; r < m && j < k; r++, j++) {
        indices[j] = (umapc_idx)buf[r].id;
        float d = metric_surrogate_to_distance(&h->space.plan, buf[r].d);
        /* rounding below 0 (dot) is 0; inner_product distances are negative */
        distances[j] =
            d > 0.0f || h->space.plan.metric.kind == UMAPC_METRIC_INNER_PRODUCT ? d : 0.0f;
    }
    for (; j < k; j++) {
        indices[j] = -1;
        distances[j] = INFINITY;
    }
}

/* Breadth-first order over layer 0: consecutive points then share most of their neighbourhoods,
 * so a thread working through a run of them finds the rows it needs in cache. The searches do not
 * depend on the order, so neither does the result. */
static uint32_t *bfs_order(const umapc_hnsw *h) {
    size_t n = h->n, head = 0, tail = 0;
    uint32_t *order = malloc(n * sizeof *order);
    uint8_t *seen = calloc(n, 1);
    if (order == NULL || seen == NULL) {
        free(order);
        free(seen);
        return NULL;
    }
    for (size_t seed = 0; seed <= n; seed++) {
        uint32_t start = seed == 0 ? h->entry : (uint32_t)(seed - 1);
        if (seen[start]) {
            continue;
        }
        seen[start] = 1;
        order[tail++] = start;
        while (head < tail) {
            const uint32_t *links = hnsw_links0(h, order[head++]);
            for (size_t j = 0; j < h->M0 && links[j] != HNSW_NONE; j++) {
                if (!seen[links[j]]) {
                    seen[links[j]] = 1;
                    order[tail++] = links[j];
                }
            }
        }
    }
    free(seen);
    return order;
}

/* Everything the self-searches read, and where their answers go. */
typedef struct graph_job {
    const hnsw_view *view;
    const hnsw_codes *codes;
    const zero_list *zero;
    const uint32_t *order;
    size_t k, ef;
    umapc_idx *indices;
    float *distances;
} graph_job;

typedef struct graph_scratch {
    hnsw_scratch s;
    hnsw_pair *buf;
} graph_scratch;

static int graph_init(void *ctx, void *scratch) {
    const graph_job *job = ctx;
    const umapc_hnsw *h = job->view->h;
    graph_scratch *gs = scratch;
    gs->buf = malloc((job->ef + job->k + 9) * sizeof *gs->buf);
    return hnsw_scratch_init(&gs->s, h->n, h->M0, h->dim) == 0 && gs->buf != NULL ? 0 : -1;
}

/* lo and hi are positions in bfs_order, so that a chunk is a run of neighbouring points. */
static int graph_rows(void *ctx, void *scratch, size_t lo, size_t hi) {
    const graph_job *job = ctx;
    graph_scratch *gs = scratch;
    size_t k = job->k;
    for (size_t pos = lo; pos < hi; pos++) {
        size_t i = job->order[pos];
        self_search(job->view, job->codes, job->zero, &gs->s, gs->buf, (uint32_t)i, k,
                    job->ef > k ? job->ef : k + 1, job->indices + i * k, job->distances + i * k);
    }
    return 0;
}

/* A search that could not grow its buffers returned fewer candidates: out of memory. */
static int graph_finish(void *ctx, void *scratch) {
    (void)ctx;
    graph_scratch *gs = scratch;
    int failed = gs->s.failed;
    hnsw_scratch_free(&gs->s);
    free(gs->buf);
    return failed;
}

umapc_status umapc_hnsw_knn_graph(const umapc_hnsw *index, size_t k,
                                  const umapc_knn_graph_options *opts,
                                  const umapc_progress *progress, umapc_idx *indices,
                                  float *distances, umapc_error *err) {
    if (index == NULL || indices == NULL || distances == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "knn graph: NULL argument");
    }
    if (k == 0 || k > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "knn graph: k must be >= 1");
    }
    umapc_knn_graph_options defaults;
    umapc_knn_graph_options_init(&defaults);
    if (opts == NULL) {
        opts = &defaults;
    }
    const umapc_hnsw *h = index;
    size_t n = h->n;
    int threads = umapc_resolve_threads(opts->n_threads);
    hnsw_codes codes;
    hnsw_view view;
    const hnsw_codes *used = NULL;
    if (hnsw_codes_build(h, n, threads, &codes) == 0) {
        hnsw_view_codes(&view, h, &codes);
        used = &codes;
    } else {
        hnsw_view_rows(&view, h);
    }
    uint32_t *order = bfs_order(h);
    zero_list zero;
    if (order == NULL || hnsw_zero_rows(h, n, &zero.ids, &zero.n) != 0) {
        hnsw_codes_free(&codes);
        free(order);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "knn graph: out of memory");
    }
    graph_job job = {&view,   used,     &zero, order, k, knn_ef(k, opts->target_recall),
                     indices, distances};
    umapc_parallel_loop loop = {.n_items = n,
                                .chunk = 64,
                                .n_threads = threads,
                                .progress = progress,
                                .stage = "knn graph",
                                .report_every = 1024,
                                .ctx = &job,
                                .scratch_size = sizeof(graph_scratch),
                                .init = graph_init,
                                .body = graph_rows,
                                .finish = graph_finish};
    umapc_status st = umapc_parallel_for(&loop, err);
    hnsw_codes_free(&codes);
    free(order);
    free(zero.ids);
    return st;
}
