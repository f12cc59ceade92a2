/* All-points k-NN graph from an HNSW index. Every point is already in the graph, so its search
 * starts at itself on layer 0: no descent, and the first expansions are its own links, which the
 * build chose among its nearest neighbours. */
#include "hnsw_internal.h"
#include "umapc/knn_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID() omp_get_thread_num()
#else
#define THREAD_ID() 0
#endif

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

/* Searches from i itself on the traversal view, then re-ranks the best candidates on the float
 * rows so reported distances (and the order near the k-th) are exact. */
static void self_search(const hnsw_view *v, hnsw_scratch *s, hnsw_pair *buf, uint32_t i, size_t k,
                        size_t ef, umapc_idx *indices, float *distances) {
    const umapc_hnsw *h = v->h;
    const void *q = hnsw_item(v, i);
    hnsw_scratch_new_epoch(s);
    hnsw_visit(s, i);
    hnsw_pair ep = {hnsw_vdist(v, q, i), i};
    hnsw_search_layer(v, s, q, &ep, 1, ef, 0, NULL);
    size_t found = hnsw_drain_sorted(s, buf), m = 0;
    size_t rerank = found < 2 * k + 8 ? found : 2 * k + 8;
    const float *x = hnsw_vec(h, i);
    for (size_t r = 0; r < rerank; r++) {
        if (buf[r].id != i) {
            buf[m++] = (hnsw_pair){hnsw_dist(&h->space, x, hnsw_vec(h, buf[r].id)), buf[r].id};
        }
    }
    qsort(buf, m, sizeof *buf, hnsw_cmp_pair);
    indices[0] = (umapc_idx)i;
    distances[0] = 0.0f;
    size_t j = 1;
    for (size_t r = 0; r < m && j < k; r++, j++) {
        indices[j] = (umapc_idx)buf[r].id;
        float d = metric_surrogate_to_distance(&h->space.plan, buf[r].d);
        distances[j] = d > 0.0f ? d : 0.0f;
    }
    for (; j < k; j++) {
        indices[j] = -1;
        distances[j] = INFINITY;
    }
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
    size_t n = h->n, ef = knn_ef(k, opts->target_recall);
    int threads = umapc_resolve_threads(opts->n_threads);
    int stop = 0, oom = 0;
    size_t done = 0;
    hnsw_codes codes;
    hnsw_view view;
    if (hnsw_codes_build(h, n, threads, &codes) == 0) {
        hnsw_view_codes(&view, h, &codes);
    } else {
        hnsw_view_floats(&view, h);
    }
#pragma omp parallel num_threads(threads)
    {
        hnsw_scratch s;
        hnsw_pair *buf = malloc((ef + 2 * k + 9) * sizeof *buf);
        int ok = hnsw_scratch_init(&s, n, h->M0, h->dim) == 0 && buf != NULL;
        if (!ok) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(dynamic, 64)
        for (size_t i = 0; i < n; i++) {
            int halt;
#pragma omp atomic read
            halt = stop;
            if (halt || !ok) {
                continue;
            }
            self_search(&view, &s, buf, (uint32_t)i, k, ef > k ? ef : k + 1, indices + i * k,
                        distances + i * k);
            size_t now;
#pragma omp atomic capture
            now = ++done;
            if (THREAD_ID() == 0 && (now & 1023) == 0 &&
                umapc_progress_report(progress, "knn graph", now, n)) {
#pragma omp atomic write
                stop = 1;
            }
        }
        if (s.failed) {
#pragma omp atomic write
            oom = 1;
        }
        hnsw_scratch_free(&s);
        free(buf);
    }
    hnsw_codes_free(&codes);
    if (oom) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "knn graph: out of memory");
    }
    if (stop || umapc_progress_report(progress, "knn graph", n, n)) {
        return umapc_fail(err, UMAPC_ERR_INTERRUPTED, "knn graph: interrupted");
    }
    return UMAPC_OK;
}
