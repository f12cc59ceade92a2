/* libFuzzer target: the array-taking C entry points with fuzzed shapes, parameters and values (NaN,
 * infinities, huge and denormal values, zero rows or columns, k above n, neighbour ids out of
 * range, malformed CSR graphs). Every call must come back with an error code or a result that
 * passes the checks below; a crash, a sanitizer report, a leak or a hang is a finding.
 *
 * Input layout: one byte picks the entry point, the next bytes give shapes and options, and the
 * rest is values. Values are read one byte each from a table of awkward floats, or as raw
 * 4-byte floats when the "raw" flag is set; past the end of the input everything reads as 0, so
 * short inputs still reach every call. */
#include "umapc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct reader {
    const uint8_t *p;
    size_t left;
    int raw; /* floats as 4 raw bytes instead of one table byte */
} reader;

static uint8_t take_u8(reader *r) {
    if (r->left == 0) {
        return 0;
    }
    r->left--;
    return *r->p++;
}

static const float awkward[32] = {
    0.0f,  1.0f,     -1.0f,     2.0f,  3.0f,  0.5f,   -0.5f,   4.0f,     0.1f,    10.0f,  255.0f,
    1e-3f, 1e6f,     1e18f,     1e19f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-40f, -0.0f,
    NAN,   INFINITY, -INFINITY, 5.0f,  6.0f,  7.0f,   0.25f,   1.5f,     -2.0f,   100.0f,
};

static float take_float(reader *r) {
    if (!r->raw) {
        return awkward[take_u8(r) % 32];
    }
    uint32_t bits = 0;
    for (int i = 0; i < 4; i++) {
        bits |= (uint32_t)take_u8(r) << (8 * i);
    }
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* A double from a short table of the values options are most often wrong with. */
static double take_param(reader *r, double usual) {
    static const double odd[] = {0.0, 1.0, -1.0, 0.5, 2.0, 3.7, 1e-300, 1e300, NAN, INFINITY};
    uint8_t b = take_u8(r);
    return b < 128 ? usual : odd[b % (sizeof odd / sizeof *odd)];
}

/* count elements, at least one allocated (so no pointer is NULL: count may be 0). */
static void *alloc_array(size_t count, size_t size) {
    void *p = malloc((count ? count : 1) * size);
    REQUIRE(p != NULL);
    return p;
}

/* count floats (count may be 0: then a 1-element buffer, so the pointer is never NULL). */
static float *take_floats(reader *r, size_t count) {
    float *v = alloc_array(count, sizeof *v);
    REQUIRE(v != NULL);
    for (size_t i = 0; i < count; i++) {
        v[i] = take_float(r);
    }
    return v;
}

static int all_finite(const float *v, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

/* No row lists a neighbour twice (-1 padding aside). */
static int ids_unique(const umapc_idx *ids, size_t rows, size_t k) {
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < k; j++) {
            for (size_t i = 0; i < j; i++) {
                if (ids[r * k + j] != -1 && ids[r * k + i] == ids[r * k + j]) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

/* Rows the index layer would accept: finite, and in the metric's domain. */
static int in_domain(const umapc_metric *m, const float *x, size_t n, size_t dim) {
    return all_finite(x, n * dim) && (n == 0 || umapc_metric_check_data(m, x, n, dim, NULL) == 0);
}

static int is_error(umapc_status st) {
    return st == UMAPC_ERR_INVALID_ARGUMENT || st == UMAPC_ERR_OUT_OF_MEMORY;
}

typedef struct shape {
    size_t n, dim, k;
    umapc_metric metric;
    uint8_t flags;
} shape;

static shape take_shape(reader *r) {
    shape s;
    s.n = take_u8(r) % 48;
    s.dim = take_u8(r) % 12;
    s.k = take_u8(r) % 52;
    umapc_metric_init(&s.metric);
    /* params stay NULL: the kinds that need them (seuclidean, wminkowski, mahalanobis,
     * kantorovich, sinkhorn, ordinal, count) must be refused by every call's validation */
    s.metric.kind = (umapc_metric_kind)(take_u8(r) % (UMAPC_METRIC_COUNT_ + 1));
    s.metric.p = take_param(r, 2.0);
    s.flags = take_u8(r);
    r->raw = s.flags & 1;
    return s;
}

/* Result rows: ids in [-1, n), no id twice, -1 only as trailing padding; distances ascending from
 * column `sorted_from` on wherever they are numbers (a k-NN graph's column 0 is the point itself
 * at 0, which inner_product's negative distances may undercut). NO_ORDER skips the order: rows
 * outside the metric's domain (NaN, or magnitudes whose sums overflow) have NaN distances, which
 * the entry points that do not check their rows are documented to give. */
#define NO_ORDER SIZE_MAX

static void print_row(const umapc_idx *ids, const float *dists, size_t k) {
    for (size_t j = 0; j < k; j++) {
        fprintf(stderr, "%d:%g ", ids[j], dists[j]);
    }
    fprintf(stderr, "\n");
}

static void check_rows(const umapc_idx *ids, const float *dists, size_t rows, size_t k, size_t n,
                       size_t sorted_from) {
    for (size_t r = 0; r < rows; r++) {
        const umapc_idx *row = ids + r * k;
        for (size_t j = 0; j < k; j++) {
            if (sorted_from != NO_ORDER && j > sorted_from && row[j] != -1 &&
                dists[r * k + j] < dists[r * k + j - 1]) {
                fprintf(stderr, "row %zu out of order: ", r);
                print_row(row, dists + r * k, k);
            }
            REQUIRE(row[j] >= -1 && (row[j] == -1 || (size_t)row[j] < n));
            REQUIRE(j == 0 || row[j] == -1 || row[j - 1] != -1);
            REQUIRE(sorted_from == NO_ORDER || j <= sorted_from || row[j] == -1 ||
                    !(dists[r * k + j] < dists[r * k + j - 1]));
            for (size_t i = 0; i < j && row[j] != -1; i++) {
                REQUIRE(row[i] != row[j]);
            }
        }
    }
}

/* A k-NN graph: row i starts with i itself at distance 0. */
static void check_self_first(const umapc_idx *ids, const float *dists, size_t n, size_t k,
                             int in_domain) {
    for (size_t i = 0; i < n; i++) {
        REQUIRE(ids[i * k] == (umapc_idx)i && dists[i * k] == 0.0f);
    }
    check_rows(ids, dists, n, k, n, in_domain ? 1 : NO_ORDER);
}

static void fuzz_exact(reader *r, int graph) {
    shape s = take_shape(r);
    size_t nq = take_u8(r) % 4;
    float *data = take_floats(r, s.n * s.dim);
    float *queries = take_floats(r, nq * s.dim);
    uint8_t *mask = NULL;
    if (s.flags & 2) {
        mask = malloc(s.n ? s.n : 1);
        REQUIRE(mask != NULL);
        for (size_t i = 0; i < s.n; i++) {
            mask[i] = take_u8(r) & 1;
        }
    }
    size_t rows = graph ? s.n : nq;
    umapc_idx *ids = alloc_array(rows * s.k, sizeof *ids);
    float *dists = alloc_array(rows * s.k, sizeof *dists);
    REQUIRE(ids != NULL && dists != NULL);
    umapc_exact_options o;
    umapc_exact_options_init(&o);
    o.n_threads = 1;
    umapc_error err = {0};
    umapc_status st =
        graph ? umapc_exact_knn_graph(&s.metric, data, s.n, s.dim, s.k, &o, NULL, ids, dists, &err)
              : umapc_exact_search(&s.metric, data, s.n, s.dim, queries, nq, s.k, mask, &o, NULL,
                                   ids, dists, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    int ordered = in_domain(&s.metric, data, s.n, s.dim) &&
                  in_domain(&s.metric, queries, graph ? 0 : nq, s.dim);
    if (st == UMAPC_OK && graph) {
        check_self_first(ids, dists, s.n, s.k, ordered);
    } else if (st == UMAPC_OK) {
        check_rows(ids, dists, nq, s.k, s.n, ordered ? 0 : NO_ORDER);
        for (size_t i = 0; mask != NULL && i < nq * s.k; i++) {
            REQUIRE(ids[i] == -1 || mask[ids[i]]);
        }
    }
    free(data);
    free(queries);
    free(mask);
    free(ids);
    free(dists);
}

/* Queries, the k-NN graph, additions and a save/load round trip on an index built from fuzzed
 * rows (rows with NaN, infinities or out-of-domain values must be refused at creation). */
static void use_index(reader *r, umapc_index *index, const shape *s) {
    size_t nq = 1 + take_u8(r) % 3, dim = s->dim, n = umapc_index_size(index);
    float *queries = take_floats(r, nq * dim);
    size_t k = s->k;
    umapc_idx *ids = alloc_array(nq * k, sizeof *ids);
    float *dists = alloc_array(nq * k, sizeof *dists);
    REQUIRE(ids != NULL && dists != NULL);
    umapc_query_options q;
    umapc_query_options_init(&q);
    q.n_threads = 1;
    q.ef = (s->flags & 8) ? SIZE_MAX - take_u8(r) : take_u8(r);
    umapc_error err = {0};
    umapc_status st = umapc_index_query(index, queries, nq, k, &q, NULL, ids, dists, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK) {
        check_rows(ids, dists, nq, k, n, 0);
    }
    free(ids);
    free(dists);
    ids = alloc_array(n * k, sizeof *ids);
    dists = alloc_array(n * k, sizeof *dists);
    REQUIRE(ids != NULL && dists != NULL);
    st = umapc_index_knn_graph(index, k, NULL, NULL, ids, dists, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK) {
        check_self_first(ids, dists, n, k, 1); /* the index checked its rows */
    }
    st = umapc_index_add(index, queries, nq, NULL, NULL, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    REQUIRE(umapc_index_size(index) == (st == UMAPC_OK ? n + nq : n));
    free(ids);
    free(dists);
    free(queries);
}

static void round_trip(const umapc_index *index) {
    uint8_t meta[3] = {1, 2, 3}, *bytes = NULL, *meta_back = NULL;
    size_t size = 0, meta_size = 0;
    umapc_blob blob = {meta, sizeof meta};
    umapc_error err = {0};
    REQUIRE(umapc_index_serialize(index, blob, &bytes, &size, &err) == UMAPC_OK);
    umapc_index *back = NULL;
    umapc_status st = umapc_index_deserialize(bytes, size, &back, &meta_back, &meta_size, &err);
    if (st != UMAPC_OK) {
        fprintf(stderr, "a saved index does not load: %s\n", err.message);
    }
    REQUIRE(st == UMAPC_OK);
    REQUIRE(umapc_index_size(back) == umapc_index_size(index) && meta_size == sizeof meta &&
            memcmp(meta_back, meta, sizeof meta) == 0);
    umapc_index_free(back);
    umapc_free(meta_back);
    umapc_free(bytes);
}

static void fuzz_index(reader *r) {
    shape s = take_shape(r);
    umapc_index_options o;
    umapc_index_options_init(&o);
    o.backend = (s.flags & 2) ? UMAPC_BACKEND_HNSW : UMAPC_BACKEND_EXACT;
    o.hnsw.n_threads = 1;
    o.hnsw.M = take_u8(r) % 20;
    o.hnsw.ef_construction = take_u8(r) % 70;
    o.hnsw.seed = take_u8(r);
    o.hnsw.lossless_codes = (s.flags & 4) != 0;
    float *data = take_floats(r, s.n * s.dim);
    umapc_index *index = NULL;
    umapc_error err = {0};
    umapc_status st = umapc_index_create(&s.metric, data, s.n, s.dim, &o, NULL, &index, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    REQUIRE((st == UMAPC_OK) == (index != NULL));
    if (st == UMAPC_OK) {
        REQUIRE(all_finite(data, s.n * s.dim));
        use_index(r, index, &s);
        round_trip(index);
        umapc_index_free(index);
    }
    free(data);
}

static void fuzz_nndescent(reader *r) {
    shape s = take_shape(r);
    umapc_nndescent_options o;
    umapc_nndescent_options_init(&o);
    o.n_threads = 1;
    o.seed = take_u8(r);
    o.n_trees = take_u8(r) % 5;
    o.leaf_size = take_u8(r) % 40;
    o.max_candidates = take_u8(r) % 40;
    o.max_iters = take_u8(r) % 12;
    o.delta = take_param(r, 0.001);
    o.extra = take_u8(r) % 4;
    float *data = take_floats(r, s.n * s.dim);
    umapc_idx *ids = alloc_array(s.n * s.k, sizeof *ids);
    float *dists = alloc_array(s.n * s.k, sizeof *dists);
    REQUIRE(ids != NULL && dists != NULL);
    umapc_error err = {0};
    umapc_status st = umapc_nndescent_knn_graph(&s.metric, data, s.n, s.dim, s.k, &o, NULL, NULL,
                                                ids, dists, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK) {
        check_self_first(ids, dists, s.n, s.k, in_domain(&s.metric, data, s.n, s.dim));
    }
    free(data);
    free(ids);
    free(dists);
}

static void fuzz_hnsw_graph(reader *r) {
    shape s = take_shape(r);
    umapc_hnsw_options o;
    umapc_hnsw_options_init(&o);
    o.n_threads = 1;
    o.M = take_u8(r) % 20;
    o.ef_construction = take_u8(r) % 70;
    o.lossless_codes = (s.flags & 4) != 0;
    umapc_knn_graph_options g;
    umapc_knn_graph_options_init(&g);
    g.n_threads = 1;
    g.target_recall = take_param(r, 0.99);
    float *data = take_floats(r, s.n * s.dim);
    umapc_hnsw *h = NULL;
    umapc_error err = {0};
    umapc_status st = umapc_hnsw_build(&s.metric, data, s.n, s.dim, &o, NULL, &h, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK) {
        umapc_idx *ids = alloc_array(s.n * s.k, sizeof *ids);
        float *dists = alloc_array(s.n * s.k, sizeof *dists);
        REQUIRE(ids != NULL && dists != NULL);
        st = umapc_hnsw_knn_graph(h, s.k, &g, NULL, ids, dists, &err);
        REQUIRE(st == UMAPC_OK || is_error(st));
        if (st == UMAPC_OK) {
            check_self_first(ids, dists, s.n, s.k, in_domain(&s.metric, data, s.n, s.dim));
        }
        free(ids);
        free(dists);
        umapc_hnsw_free(h);
    }
    free(data);
}

/* Spectral init, layout (fit, and transform against a fixed tail), transform init and rescaling
 * on a graph that may or may not be valid: each call validates it itself. */
static void use_graph(reader *r, const umapc_graph *g) {
    size_t dim = 1 + take_u8(r) % 3, n = g->n_rows, cols = g->n_cols;
    int valid = umapc_graph_validate(g, NULL) == UMAPC_OK;
    float *emb = take_floats(r, n * dim), *tail = take_floats(r, cols * dim);
    umapc_error err = {0};
    umapc_idx *labels = alloc_array(n, sizeof *labels);
    REQUIRE(labels != NULL);
    size_t m = 0;
    umapc_status st = umapc_connected_components(g, labels, &m, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    REQUIRE(valid || st != UMAPC_OK);
    for (size_t i = 0; st == UMAPC_OK && i < n; i++) {
        REQUIRE(labels[i] >= 0 && (size_t)labels[i] < m);
    }
    free(labels);
    umapc_spectral_options so;
    umapc_spectral_options_init(&so);
    so.n_threads = 1;
    so.max_iter = take_u8(r) % 40;
    int converged = 0;
    st = umapc_spectral_layout(g, dim, &so, NULL, emb, &converged, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    umapc_layout_options lo;
    umapc_layout_options_init(&lo);
    lo.n_threads = 1;
    lo.n_epochs = 1 + take_u8(r) % 24;
    lo.a = take_param(r, 1.577);
    lo.b = take_param(r, 0.8951);
    lo.negative_sample_rate = take_param(r, 5.0);
    /* The layout's time is linear in the rate (by design: bounded only at 10^6 samples per edge
     * and epoch, and the Python layer refuses rates above 1000), so large rates would only make
     * this target slow. */
    lo.negative_sample_rate = lo.negative_sample_rate > 20.0 ? 20.0 : lo.negative_sample_rate;
    lo.seed = take_u8(r);
    st = umapc_optimize_layout(emb, n, NULL, 0, dim, g, &lo, NULL, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    st = umapc_optimize_layout(emb, n, tail, cols, dim, g, &lo, NULL, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    st = umapc_init_transform(g, tail, cols, dim, emb, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    st = umapc_rescale_embedding(emb, n, dim, 7, take_u8(r) & 1, take_param(r, 1e-4), &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    free(emb);
    free(tail);
}

static void fuzz_fuzzy(reader *r) {
    shape s = take_shape(r);
    size_t n_vertices = (s.flags & 2) ? s.n : take_u8(r) % 48;
    umapc_fuzzy_options o;
    umapc_fuzzy_options_init(&o);
    o.n_threads = 1;
    o.local_connectivity = take_param(r, 1.0);
    o.set_op_mix_ratio = take_param(r, 1.0);
    o.apply_set_operations = (s.flags & 4) != 0;
    o.bipartite = (int)(take_u8(r) % 3) - 1;
    o.bandwidth = take_param(r, 1.0);
    o.n_iter = (int)(take_u8(r) % 70);
    size_t count = s.n * s.k;
    umapc_idx *ids = alloc_array(count, sizeof *ids);
    REQUIRE(ids != NULL);
    for (size_t i = 0; i < count; i++) {
        ids[i] = (umapc_idx)(take_u8(r) % (n_vertices + 2)) - 1; /* -1 .. n_vertices */
    }
    float *dists = take_floats(r, count);
    float *sigmas = alloc_array(s.n, sizeof *sigmas);
    float *rhos = alloc_array(s.n, sizeof *rhos);
    REQUIRE(sigmas != NULL && rhos != NULL);
    umapc_graph g = {0};
    umapc_error err = {0};
    umapc_status st = umapc_fuzzy_simplicial_set((s.flags & 8) ? NULL : ids, dists, s.n, s.k,
                                                 n_vertices, &o, NULL, &g, sigmas, rhos, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK) {
        REQUIRE(g.n_rows == s.n && g.n_cols == n_vertices);
        /* Finite distances and no neighbour listed twice must give finite, nonnegative
         * memberships. (Duplicates are summed as in umap-learn, and a sum above 1 makes the
         * fuzzy union p + q - pq negative: the layout then refuses the graph.) */
        if (all_finite(dists, count) && ids_unique(ids, s.n, s.k) &&
            umapc_graph_validate(&g, &err) != UMAPC_OK) {
            fprintf(stderr, "finite distances, invalid graph: %s\n", err.message);
            abort();
        }
        use_graph(r, &g);
        umapc_graph_free(&g);
    }
    free(ids);
    free(dists);
    free(sigmas);
    free(rhos);
}

/* A CSR graph straight from the input: offsets may decrease or overrun, columns repeat or fall
 * outside, weights are any float. */
static void fuzz_raw_graph(reader *r) {
    size_t n = take_u8(r) % 40, cols = (take_u8(r) & 1) ? n : take_u8(r) % 40;
    size_t nnz = take_u8(r) % 120;
    int64_t *indptr = malloc((n + 1) * sizeof *indptr);
    umapc_idx *indices = alloc_array(nnz, sizeof *indices);
    REQUIRE(indptr != NULL && indices != NULL);
    r->raw = take_u8(r) & 1;
    indptr[0] = (take_u8(r) == 255) ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        int64_t step = (int64_t)(take_u8(r) % 8) - (take_u8(r) == 255 ? 9 : 0);
        indptr[i + 1] = indptr[i] + step;
    }
    if (n > 0 && (take_u8(r) & 1)) {
        indptr[n] = (int64_t)nnz; /* often the only inconsistency left is in between */
    }
    for (size_t i = 0; i < nnz; i++) {
        indices[i] = (umapc_idx)(take_u8(r) % (cols + 2)) - 1;
    }
    float *data = take_floats(r, nnz);
    umapc_graph g = {n, cols, nnz, indptr, indices, data};
    use_graph(r, &g);
    free(indptr);
    free(indices);
    free(data);
}

static void fuzz_distances(reader *r) {
    shape s = take_shape(r);
    size_t ny = take_u8(r) % 6;
    float *x = take_floats(r, s.n * s.dim), *y = take_floats(r, ny * s.dim);
    float *out = alloc_array(s.n * ny, sizeof *out);
    REQUIRE(out != NULL);
    umapc_error err = {0};
    umapc_status st = umapc_pairwise_distances(&s.metric, x, s.n, y, ny, s.dim, out, NULL, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (s.metric.kind < UMAPC_METRIC_COUNT_ &&
        umapc_metric_validate_dim(&s.metric, s.dim, NULL) == 0) {
        for (size_t i = 0; i < s.n && ny > 0; i++) {
            float d = umapc_distance(&s.metric, x + i * s.dim, y, s.dim);
            int bounded =
                s.metric.kind == UMAPC_METRIC_COSINE || s.metric.kind == UMAPC_METRIC_CORRELATION;
            REQUIRE(!bounded || isnan(d) || (d >= 0.0f && d <= 2.0f));
        }
    }
    double a = 0.0, b = 0.0;
    st = umapc_find_ab_params(take_param(r, 1.0), take_param(r, 0.1), &a, &b, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    REQUIRE(st != UMAPC_OK || (isfinite(a) && isfinite(b) && a > 0.0 && b > 0.0));
    free(x);
    free(y);
    free(out);
}

/* Sparse rows with fuzzed structure: row lengths, column indices (unsorted, repeated, out of
 * range) and indptr values as the bytes give them, so most inputs are malformed; those that pass
 * umapc_sparse_check_data go through the exact graph, NN-descent and pairwise distances. */
static void fuzz_sparse(reader *r) {
    shape s = take_shape(r);
    size_t cols = s.dim + 1;
    int64_t *indptr = alloc_array(s.n + 1, sizeof *indptr);
    indptr[0] = take_u8(r) < 250 ? 0 : 1;
    for (size_t i = 0; i < s.n; i++) {
        uint8_t len = take_u8(r);
        indptr[i + 1] = indptr[i] + (len < 250 ? len % (cols + 1) : -1);
    }
    size_t nnz = indptr[s.n] > 0 ? (size_t)indptr[s.n] : 0;
    int32_t *indices = alloc_array(nnz, sizeof *indices);
    for (size_t e = 0; e < nnz; e++) {
        uint8_t b = take_u8(r);
        /* mostly increasing within a row, so that some inputs are well formed */
        indices[e] = b < 240 ? (int32_t)(e % cols) : (int32_t)b - 245;
    }
    float *values = take_floats(r, nnz);
    umapc_csr x = {s.n, cols, indptr, indices, values};
    umapc_error err = {0};
    umapc_status st = umapc_sparse_check_data(&s.metric, &x, &err);
    REQUIRE(st == UMAPC_OK || is_error(st));
    if (st == UMAPC_OK && s.n > 0) {
        umapc_idx *ids = alloc_array(s.n * s.k, sizeof *ids);
        float *dists = alloc_array(s.n * (s.k > s.n ? s.k : s.n), sizeof *dists);
        st = umapc_exact_knn_graph_csr(&s.metric, &x, s.k, NULL, NULL, ids, dists, &err);
        REQUIRE(st == UMAPC_OK || is_error(st));
        if (st == UMAPC_OK) {
            check_self_first(ids, dists, s.n, s.k, 1);
        }
        umapc_nndescent_options o;
        umapc_nndescent_options_init(&o);
        o.n_threads = 1;
        o.seed = take_u8(r);
        st = umapc_nndescent_knn_graph_csr(&s.metric, &x, s.k, &o, NULL, NULL, ids, dists, &err);
        REQUIRE(st == UMAPC_OK || is_error(st));
        if (st == UMAPC_OK) {
            check_self_first(ids, dists, s.n, s.k, 1);
        }
        float *all = alloc_array(s.n * s.n, sizeof *all);
        st = umapc_sparse_pairwise_distances(&s.metric, &x, &x, all, NULL, &err);
        REQUIRE(st == UMAPC_OK);
        free(all);
        free(ids);
        free(dists);
    }
    free(indptr);
    free(indices);
    free(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size, 0};
    uint8_t entry = take_u8(&r);
    if (entry >= 248) { /* sparse rows, added after the corpus of the eight below */
        fuzz_sparse(&r);
        return 0;
    }
    switch (entry % 8) {
    case 0:
        fuzz_exact(&r, 0);
        break;
    case 1:
        fuzz_exact(&r, 1);
        break;
    case 2:
        fuzz_index(&r);
        break;
    case 3:
        fuzz_nndescent(&r);
        break;
    case 4:
        fuzz_hnsw_graph(&r);
        break;
    case 5:
        fuzz_fuzzy(&r);
        break;
    case 6:
        fuzz_raw_graph(&r);
        break;
    default:
        fuzz_distances(&r);
        break;
    }
    return 0;
}
