/* UMAP layout optimisation (umap-learn's optimize_layout_euclidean) and the small steps around it:
 * the a/b curve fit, rescaling of initial embeddings and the initial positions of new points.
 *
 * The SGD is written once. An epoch is a schedule and an execution:
 * - the schedule (here, plain C for every CPU) lists per point an op per sampled out-edge, in
 *   umap-learn's order: its other end, how many negative samples it draws and the key of their
 *   counter-based random numbers (seed, epoch, edge);
 * - an executor (layout_kernels.h) does the rest: it draws the negatives and evaluates an op's
 *   attraction and negatives at one position, the scalar one below for any number of dimensions,
 *   or a 2-D one with a point per SIMD lane (layout_lanes.h), all computing the same float
 *   expressions, so the embedding is the same on every CPU and for any thread count.
 * umap-learn moves both ends of a sampled edge by the same gradient. Here a point's thread moves
 * only that point and records the move of each sampled edge; after the epoch every point takes
 * back, with the opposite sign, the moves of the edges that end at it. Other points are read at
 * their positions from the start of the epoch. (umapc up to 0.1 had each point recompute the pull
 * of its in-edges from its own, later position instead: on data with many coincident points the
 * two ends of an edge then moved by different amounts and duplicate groups were scattered,
 * trustworthiness 0.79 against umap-learn's 0.88 on repeated Fashion-MNIST images.) */
#include "cpu.h"
#include "densmap_internal.h"
#include "graph_internal.h"
#include "layout_internal.h"
#include "layout_kernels.h"
#include "metric_grad.h"
#include "umapc/layout.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* a and b                                                                                     */

typedef struct ab_problem {
    double x[300];
    double y[300];
} ab_problem;

/* Sum of squared residuals of 1 / (1 + a x^(2b)) - y, with the Gauss-Newton normal equations
 * (J^T J and J^T r) when jtj is not NULL. */
static double ab_residual(const ab_problem *p, double a, double b, double jtj[3], double jtr[2]) {
    double ss = 0.0;
    if (jtj != NULL) {
        jtj[0] = jtj[1] = jtj[2] = jtr[0] = jtr[1] = 0.0;
    }
    for (int i = 0; i < 300; i++) {
        double x = p->x[i];
        double x2b = x > 0.0 ? pow(x, 2.0 * b) : 0.0;
        double den = 1.0 + a * x2b;
        double r = 1.0 / den - p->y[i];
        ss += r * r;
        if (jtj != NULL) {
            double ja = -x2b / (den * den);
            double jb = x > 0.0 ? -a * x2b * 2.0 * log(x) / (den * den) : 0.0;
            jtj[0] += ja * ja;
            jtj[1] += ja * jb;
            jtj[2] += jb * jb;
            jtr[0] += ja * r;
            jtr[1] += jb * r;
        }
    }
    return ss;
}

umapc_status umapc_find_ab_params(double spread, double min_dist, double *a_out, double *b_out,
                                  umapc_error *err) {
    if (!(spread > 0.0) || !(min_dist >= 0.0) || !isfinite(spread) || !isfinite(min_dist) ||
        a_out == NULL || b_out == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "find_ab_params: need spread > 0 and min_dist >= 0 (got %g, %g)", spread,
                          min_dist);
    }
    ab_problem p;
    for (int i = 0; i < 300; i++) {
        p.x[i] = 3.0 * spread * (double)i / 299.0;
        p.y[i] = p.x[i] < min_dist ? 1.0 : exp(-(p.x[i] - min_dist) / spread);
    }
    /* Levenberg-Marquardt from a = b = 1 (curve_fit's start), damping adapted per step. */
    double a = 1.0, b = 1.0, lambda = 1e-3;
    double jtj[3], jtr[2];
    double ss = ab_residual(&p, a, b, jtj, jtr);
    for (int it = 0; it < 500; it++) {
        double m0 = jtj[0] * (1.0 + lambda), m2 = jtj[2] * (1.0 + lambda), m1 = jtj[1];
        double det = m0 * m2 - m1 * m1;
        if (!(fabs(det) > 0.0)) {
            break;
        }
        double da = -(m2 * jtr[0] - m1 * jtr[1]) / det;
        double db = -(m0 * jtr[1] - m1 * jtr[0]) / det;
        double na = a + da, nb = b + db;
        double nss = (na > 0.0 && nb > 0.0) ? ab_residual(&p, na, nb, NULL, NULL) : INFINITY;
        if (nss < ss) {
            int small =
                fabs(da) <= 1e-12 * (fabs(a) + 1e-12) && fabs(db) <= 1e-12 * (fabs(b) + 1e-12);
            int flat = ss - nss <= 1e-15 * ss;
            a = na;
            b = nb;
            ss = ab_residual(&p, a, b, jtj, jtr);
            lambda = lambda * 0.3 > 1e-12 ? lambda * 0.3 : 1e-12;
            if (small || flat) {
                break;
            }
        } else {
            lambda *= 10.0;
            if (lambda > 1e12) {
                break;
            }
        }
    }
    *a_out = a;
    *b_out = b;
    return UMAPC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* rescaling and transform init                                                                */

static double normal_draw(umapc_rng *rng) {
    double u1 = umapc_rng_uniform(rng), u2 = umapc_rng_uniform(rng);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

umapc_status umapc_rescale_embedding(float *embedding, size_t n, size_t dim, uint64_t seed,
                                     int expand, double noise, umapc_error *err) {
    if (embedding == NULL || n == 0 || dim == 0 || !(noise >= 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "rescale_embedding: need a non-empty embedding and noise >= 0");
    }
    size_t total = umapc_mul_size(n, dim);
    if (expand) {
        float max_abs = 0.0f;
        for (size_t i = 0; i < total; i++) {
            max_abs = fabsf(embedding[i]) > max_abs ? fabsf(embedding[i]) : max_abs;
        }
        float expansion = max_abs > 0.0f ? (float)(10.0 / (double)max_abs) : 1.0f;
        umapc_rng rng;
        umapc_rng_seed(&rng, seed);
        for (size_t i = 0; i < total; i++) {
            embedding[i] = embedding[i] * expansion + (float)(noise * normal_draw(&rng));
        }
    }
    for (size_t d = 0; d < dim; d++) {
        float lo = embedding[d], hi = embedding[d];
        for (size_t i = 0; i < n; i++) {
            float v = embedding[i * dim + d];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float range = hi - lo;
        for (size_t i = 0; i < n; i++) {
            float *v = &embedding[i * dim + d];
            *v = range > 0.0f ? 10.0f * (*v - lo) / range : 0.0f;
        }
    }
    return UMAPC_OK;
}

umapc_status umapc_init_transform(const umapc_graph *graph, const float *train, size_t n_train,
                                  size_t dim, float *out, umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (train == NULL || out == NULL || dim == 0 || graph->n_cols != n_train || n_train == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "init_transform: graph has %zu columns but the training embedding %zu "
                          "rows",
                          graph->n_cols, n_train);
    }
    double *mean = calloc(dim, sizeof *mean);
    if (mean == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "init_transform: out of memory");
    }
    for (size_t i = 0; i < n_train; i++) {
        for (size_t d = 0; d < dim; d++) {
            mean[d] += train[i * dim + d];
        }
    }
    for (size_t r = 0; r < graph->n_rows; r++) {
        float *o = out + r * dim;
        int64_t lo = graph->indptr[r], hi = graph->indptr[r + 1];
        float sum = 0.0f;
        for (int64_t e = lo; e < hi; e++) {
            sum += graph->data[e];
        }
        for (size_t d = 0; d < dim; d++) {
            o[d] = sum > 0.0f ? 0.0f : (float)(mean[d] / (double)n_train);
        }
        for (int64_t e = lo; e < hi && sum > 0.0f; e++) {
            const float *t = train + (size_t)graph->indices[e] * dim;
            /* umap-learn places a point with a membership of exactly 1 on that neighbour. */
            if (graph->data[e] == 1.0f) {
                memcpy(o, t, dim * sizeof *o);
                break;
            }
            for (size_t d = 0; d < dim; d++) {
                o[d] += graph->data[e] / sum * t[d];
            }
        }
    }
    free(mean);
    return UMAPC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* SGD                                                                                         */

void umapc_layout_options_init(umapc_layout_options *opts) {
    opts->n_epochs = 0;
    opts->a = 1.576943460405378;
    opts->b = 0.8950608781227859;
    opts->repulsion_strength = 1.0;
    opts->learning_rate = 1.0;
    opts->negative_sample_rate = 5.0;
    opts->seed = -1;
    opts->n_threads = 0;
    opts->densmap = 0;
    opts->dens_lambda = 2.0;
    opts->dens_frac = 0.3;
    opts->dens_var_shift = 0.1;
    opts->dens_knn_indices = NULL;
    opts->dens_knn_dists = NULL;
    opts->dens_k = 0;
    opts->output_metric = UMAPC_OUTPUT_EUCLIDEAN;
    opts->output_p = 2.0;
    opts->output_params = NULL;
    opts->n_output_params = 0;
    opts->output_fn = NULL;
    opts->output_ctx = NULL;
    opts->snapshot_epochs = NULL;
    opts->n_snapshots = 0;
    opts->snapshots = NULL;
}

/* Edges that survive pruning, by head, with umap-learn's sampling state (make_epochs_per_sample:
 * an edge of weight w is sampled every max / w epochs). */
typedef struct plan {
    size_t n_head;
    int64_t *out_ptr;
    umapc_idx *out_idx;
    float *eps;      /* epochs per sample */
    float *next;     /* epoch of next sample */
    float *next_neg; /* epoch of next negative sample */
    float *weight;   /* densMAP only: the edge's weight; else NULL */
    float neg_rate;  /* negative samples per sample; 0: none */
} plan;

static void plan_free(plan *p) {
    free(p->out_ptr);
    free(p->out_idx);
    free(p->eps);
    free(p->next);
    free(p->next_neg);
    free(p->weight);
    memset(p, 0, sizeof *p);
}

static int plan_alloc_out(plan *p, size_t n_head, size_t nnz) {
    size_t m = nnz ? nnz : 1;
    p->n_head = n_head;
    p->out_ptr = calloc(n_head + 1, sizeof *p->out_ptr);
    p->out_idx = malloc(m * sizeof *p->out_idx);
    p->eps = malloc(m * sizeof *p->eps);
    p->next = malloc(m * sizeof *p->next);
    p->next_neg = malloc(m * sizeof *p->next_neg);
    return p->out_ptr && p->out_idx && p->eps && p->next && p->next_neg ? 0 : -1;
}

/* Keeps edges with weight >= max / n_epochs and sets their schedules. */
static int plan_out_edges(plan *p, const umapc_graph *g, int n_epochs, double neg_rate,
                          int keep_weights) {
    float wmax = 0.0f;
    for (size_t e = 0; e < g->nnz; e++) {
        wmax = g->data[e] > wmax ? g->data[e] : wmax;
    }
    float cut = wmax / (float)n_epochs;
    size_t kept = 0;
    for (size_t e = 0; e < g->nnz; e++) {
        kept += g->data[e] >= cut && g->data[e] > 0.0f;
    }
    if (plan_alloc_out(p, g->n_rows, kept) != 0) {
        return -1;
    }
    p->neg_rate = (float)neg_rate;
    if (keep_weights && (p->weight = malloc((kept ? kept : 1) * sizeof *p->weight)) == NULL) {
        return -1;
    }
    size_t at = 0;
    for (size_t r = 0; r < g->n_rows; r++) {
        for (int64_t e = g->indptr[r]; e < g->indptr[r + 1]; e++) {
            float w = g->data[e];
            if (!(w >= cut && w > 0.0f)) {
                continue;
            }
            float n_samples = (float)n_epochs * (w / wmax);
            p->out_idx[at] = g->indices[e];
            p->eps[at] = (float)((double)n_epochs / (double)n_samples);
            p->next[at] = p->eps[at];
            p->next_neg[at] = neg_rate > 0.0 ? p->eps[at] / p->neg_rate : 0.0f;
            if (p->weight != NULL) {
                p->weight[at] = w;
            }
            at++;
        }
        p->out_ptr[r + 1] = (int64_t)at;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* the schedule of one epoch                                                                   */

/* The op lists of one block, grown on demand (a high negative_sample_rate draws many), and in a
 * fit the block's sampled edges in order, whose far ends take back their moves. */
typedef struct ops_buf {
    /* a cache line of its own: neighbouring blocks' buffers are filled by different threads */
    _Alignas(64) int32_t *other;
    int32_t *slot;
    int32_t *n_neg;
    uint32_t *key;
    int32_t *beg;
    int32_t *sampled;
    int32_t *sorted;   /* sampled, by the thread that owns the tail at the round's end */
    size_t *owner_beg; /* sorted[owner_beg[t] .. owner_beg[t + 1] - 1] are thread t's */
    size_t cap, beg_cap, n_sampled, sampled_cap, sorted_cap, owner_cap;
} ops_buf;

static void ops_buf_free(ops_buf *b) {
    free(b->other);
    free(b->slot);
    free(b->n_neg);
    free(b->key);
    free(b->beg);
    free(b->sampled);
    free(b->sorted);
    free(b->owner_beg);
    memset(b, 0, sizeof *b);
}

static int sampled_push(ops_buf *b, int32_t e) {
    if (b->n_sampled == b->sampled_cap) {
        size_t cap = b->sampled_cap ? 2 * b->sampled_cap : 256;
        int32_t *s = realloc(b->sampled, cap * sizeof *s);
        if (s == NULL) {
            return -1;
        }
        b->sampled = s;
        b->sampled_cap = cap;
    }
    b->sampled[b->n_sampled++] = e;
    return 0;
}

static int grow(void **arr, size_t cap, size_t size) {
    void *p = realloc(*arr, cap * size);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    return 0;
}

static int ops_reserve(ops_buf *b, size_t need) {
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = need > 2 * b->cap ? need : 2 * b->cap;
    if (grow((void **)&b->other, cap, sizeof *b->other) != 0 ||
        grow((void **)&b->slot, cap, sizeof *b->slot) != 0 ||
        grow((void **)&b->n_neg, cap, sizeof *b->n_neg) != 0 ||
        grow((void **)&b->key, cap, sizeof *b->key) != 0) {
        return -1;
    }
    b->cap = cap;
    return 0;
}

typedef struct epoch_sched {
    plan *p;
    uint64_t epoch_key; /* hash of (seed, epoch): edge streams derive from it with one mix */
    float now;
    uint32_t n_tail;
    int fit; /* both ends move: attractions record their moves, by edge */
    int32_t epoch;
} epoch_sched;

/* How many negative samples edge e draws now (umap-learn: int((epoch - next) / per), if positive);
 * advances its schedule. */
static inline int take_negatives(plan *p, int64_t e, float now) {
    if (!(p->neg_rate > 0.0f)) {
        return 0;
    }
    /* epochs per negative sample, recomputed: an array of them would be one more stream to read */
    float per = p->eps[e] / p->neg_rate;
    float count = (now - p->next_neg[e]) / per;
    if (!(count >= 1.0f)) {
        return 0;
    }
    /* a rate far above umap-learn's range would overflow an int: the run is bounded instead */
    int n_neg = count < 1e6f ? (int)count : 1000000;
    p->next_neg[e] += (float)n_neg * per;
    return n_neg;
}

/* Appends the op of sampled edge e of point j. Returns -1 when out of memory. */
static int edge_ops(const epoch_sched *es, ops_buf *b, size_t *k, size_t j, int64_t e) {
    plan *p = es->p;
    p->next[e] += p->eps[e];
    int n_neg = take_negatives(p, e, es->now);
    int32_t tail = p->out_idx[e];
    /* umap-learn: an edge to the point itself has distance 0 and moves nothing */
    int attract = !(es->fit && (size_t)tail == j);
    if (!attract && n_neg == 0) {
        return 0;
    }
    if (ops_reserve(b, *k + 1) != 0) {
        return -1;
    }
    b->other[*k] = attract ? (int32_t)((uint32_t)tail | LAYOUT_ATTRACT_BIT) : LAYOUT_SKIP;
    b->slot[*k] = es->fit ? (int32_t)e : LAYOUT_NO_SLOT;
    b->n_neg[*k] = n_neg;
    b->key[*k] =
        (uint32_t)(umapc_hash64(es->epoch_key ^ ((uint64_t)e * 0xd1b54a32d192ed03ULL)) >> 32);
    (*k)++;
    if (es->fit && attract && sampled_push(b, (int32_t)e) != 0) {
        return -1;
    }
    return 0;
}

/* Appends point j's ops this epoch. Which edges are due is found first, without branches: about a
 * third of the edges are, at random, and a branch per edge mispredicted most of the time. */
static int point_ops(const epoch_sched *es, ops_buf *b, size_t *k, size_t j) {
    const plan *p = es->p;
    enum { CHUNK = 64 };
    int64_t due[CHUNK];
    for (int64_t e0 = p->out_ptr[j]; e0 < p->out_ptr[j + 1]; e0 += CHUNK) {
        int64_t e1 = e0 + CHUNK < p->out_ptr[j + 1] ? e0 + CHUNK : p->out_ptr[j + 1];
        int m = 0;
        for (int64_t e = e0; e < e1; e++) {
            due[m] = e;
            m += p->next[e] <= es->now;
        }
        for (int i = 0; i < m; i++) {
            if (edge_ops(es, b, k, j, due[i]) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* The ops of points lo .. hi-1 this epoch. */
static int block_ops(const epoch_sched *es, ops_buf *b, size_t lo, size_t hi) {
    size_t n = hi - lo;
    if (b->beg_cap < n + 1) {
        int32_t *beg = realloc(b->beg, (n + 1) * sizeof *beg);
        if (beg == NULL) {
            return -1;
        }
        b->beg = beg;
        b->beg_cap = n + 1;
    }
    size_t k = 0;
    b->n_sampled = 0;
    for (size_t j = lo; j < hi; j++) {
        b->beg[j - lo] = (int32_t)k;
        if (point_ops(es, b, &k, j) != 0 || k > INT32_MAX) {
            return -1;
        }
    }
    b->beg[n] = (int32_t)k;
    return 0;
}

/* The thread of nt that takes back the moves of the edges ending at point k of n at a round's end
 * is (k * owner_scale(n, nt)) >> 32, a multiply where a division per sampled edge was a tenth of
 * the schedule's time; the threads' ranges are contiguous and k * scale < nt 2^32 never
 * overflows. owned_from is the first point thread t owns (n for t = nt). */
static uint64_t owner_scale(size_t n, size_t nt) {
    return ((uint64_t)nt << 32) / n;
}

static size_t tail_owner(size_t k, uint64_t scale) {
    return (size_t)(((uint64_t)k * scale) >> 32);
}

static size_t owned_from(size_t t, size_t n, uint64_t scale) {
    uint64_t first = (((uint64_t)t << 32) + scale - 1) / scale;
    return first < n ? (size_t)first : n;
}

/* Sorts the block's sampled edges by the owner of their tail, stably (a counting sort), so that at
 * the round's end each thread reads only its own and still adds each tail's moves in edge order.
 */
static int sort_sampled(const plan *p, ops_buf *b, size_t nt) {
    if (b->sorted_cap < b->n_sampled &&
        grow((void **)&b->sorted, b->sampled_cap, sizeof *b->sorted) != 0) {
        return -1;
    }
    b->sorted_cap = b->sampled_cap > b->sorted_cap ? b->sampled_cap : b->sorted_cap;
    if (b->owner_cap < nt + 2 && grow((void **)&b->owner_beg, nt + 2, sizeof *b->owner_beg) != 0) {
        return -1;
    }
    b->owner_cap = b->owner_cap > nt + 2 ? b->owner_cap : nt + 2;
    size_t *beg = b->owner_beg;
    if (nt == 1) {
        beg[0] = 0;
        beg[1] = b->n_sampled;
        if (b->n_sampled > 0) { /* sorted is still NULL before the first sampled edge */
            memcpy(b->sorted, b->sampled, b->n_sampled * sizeof *b->sorted);
        }
        return 0;
    }
    uint64_t scale = owner_scale(p->n_head, nt);
    memset(beg, 0, (nt + 2) * sizeof *beg);
    for (size_t i = 0; i < b->n_sampled; i++) {
        beg[tail_owner((size_t)p->out_idx[b->sampled[i]], scale) + 2]++;
    }
    for (size_t t = 2; t < nt + 2; t++) {
        beg[t] += beg[t - 1];
    }
    /* beg[t + 1] is where owner t's edges start; placing them moves it to where they end */
    for (size_t i = 0; i < b->n_sampled; i++) {
        int32_t e = b->sampled[i];
        b->sorted[beg[tail_owner((size_t)p->out_idx[e], scale) + 1]++] = e;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* executors                                                                                   */

/* Adds the clipped gradient at cur from o to sum; returns whether there was one (d2 > 0). */
static int add_gradient(const float *cur, const float *o, int attract, const layout_consts *c,
                        size_t dim, float *sum, float *move) {
    float d2 = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = cur[d] - o[d];
        d2 = d2 + t * t;
    }
    if (!(d2 > 0.0f)) {
        return 0;
    }
    float coeff = layout_coeff(d2, attract, c);
    for (size_t d = 0; d < dim; d++) {
        float g = layout_clip(coeff * (cur[d] - o[d]));
        sum[d] = sum[d] + g;
        if (move != NULL) {
            move[d] = g * c->alpha;
        }
    }
    return 1;
}

/* The attraction of a densMAP epoch: umap-learn's clipped UMAP gradient plus its clipped densMAP
 * term, both ends moving by it; returns whether there was one (d2 > 0: coincident points do not
 * move, as in add_gradient). */
static int dens_attraction(const layout_dens *dn, const layout_consts *c, const float *cur,
                           const float *o, size_t dim, int32_t j, int32_t t, int32_t e, float *sum,
                           float *move) {
    float d2 = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        d2 = d2 + (cur[d] - o[d]) * (cur[d] - o[d]);
    }
    if (!(d2 > 0.0f)) {
        return 0;
    }
    float coeff = layout_coeff(d2, 1, c), cor = layout_dens_coeff(dn, c, d2, j, t, e);
    for (size_t d = 0; d < dim; d++) {
        float diff = cur[d] - o[d];
        float g = layout_clip(coeff * diff) + layout_clip(2.0f * cor * diff);
        sum[d] = sum[d] + g;
        if (move != NULL) {
            move[d] = g * c->alpha;
        }
    }
    return 1;
}

/* Op k of a point at cur (layout_kernels.h: the attraction, then the negatives, summed). */
static void exec_op(const layout_block *blk, const layout_consts *c, size_t dim, int32_t k,
                    int32_t self, float *cur, float *sum) {
    memset(sum, 0, dim * sizeof *sum);
    uint32_t other = (uint32_t)blk->other[k];
    if (other & LAYOUT_ATTRACT_BIT) {
        size_t t = (size_t)(other & ~LAYOUT_ATTRACT_BIT);
        const float *o = blk->emb + t * dim;
        int32_t slot = blk->slot[k];
        float *move = slot >= 0 && blk->moves != NULL ? blk->moves + (size_t)slot * dim : NULL;
        int moved =
            blk->dens != NULL && slot >= 0
                ? dens_attraction(blk->dens, c, cur, o, dim, self, (int32_t)t, slot, sum, move)
                : add_gradient(cur, o, 1, c, dim, sum, move);
        if (!moved && move != NULL) {
            memset(move, 0, dim * sizeof *move);
        }
    }
    for (int32_t q = 1; q <= blk->n_neg[k]; q++) {
        int32_t r = layout_negative(blk->key[k], (uint32_t)q, blk->n_tail);
        if (r != self) {
            add_gradient(cur, blk->emb + (size_t)r * dim, 0, c, dim, sum, NULL);
        }
    }
    for (size_t d = 0; d < dim; d++) {
        cur[d] = cur[d] + c->alpha * sum[d];
    }
}

/* One op of a point at cur (work: the executor's scratch after cur). */
typedef void (*point_op_fn)(const layout_block *blk, const layout_consts *c, const void *ctx,
                            size_t dim, int32_t k, int32_t self, float *cur, float *work);

/* The block's points one at a time through their ops: the loop of both scalar executors. */
static void exec_points(const layout_block *blk, const layout_consts *c, const void *ctx,
                        size_t dim, float *cur, float *work, point_op_fn op) {
    for (int32_t i = 0; i < blk->n; i++) {
        size_t j = (size_t)(blk->lo + i);
        int32_t self = blk->self_base < 0 ? -1 : blk->self_base + blk->lo + i;
        memcpy(cur, blk->self_in + j * dim, dim * sizeof *cur);
        for (int32_t k = blk->beg[i]; k < blk->beg[i + 1]; k++) {
            op(blk, c, ctx, dim, k, self, cur, work);
        }
        memcpy(blk->self_out + j * dim, cur, dim * sizeof *cur);
    }
}

static void euclidean_op(const layout_block *blk, const layout_consts *c, const void *ctx,
                         size_t dim, int32_t k, int32_t self, float *cur, float *work) {
    (void)ctx;
    exec_op(blk, c, dim, k, self, cur, work);
}

void umapc_layout_exec_scalar(const layout_block *blk, const layout_consts *c, size_t dim,
                              float *cur, float *sum) {
    exec_points(blk, c, NULL, dim, cur, sum, euclidean_op);
}

/* A non-euclidean embedding space: an op of umap-learn's optimize_layout_generic. The distance is
 * the metric's own (not squared); the attraction's far end moves by the gradient at its end (its
 * move is stored negated: the round's end subtracts moves). Unlike exec_op, each gradient moves
 * the point before the next is taken, as in umap-learn: a sphere's gradients change fast near
 * the poles, and summed at one position (haversine, digits, 200 epochs) they gave
 * trustworthiness 0.908 against umap-learn's 0.957. buf has room for 4 dim floats. */
typedef struct output_space {
    metric_grad_kind kind;
    metric_grad_params prm; /* p and the parameter array */
    umapc_output_fn fn;     /* a custom metric's, in place of kind's gradient */
    void *ctx;
} output_space;

static float output_grad(const output_space *o, const float *x, const float *y, size_t dim,
                         float *grad) {
    if (o->fn != NULL) {
        return o->fn(x, y, grad, (int64_t)dim, o->ctx);
    }
    return metric_grad(o->kind, &o->prm, x, y, dim, grad);
}

/* output_grad from the moving point cur, first put in the metric's canonical form as umap-learn's
 * gradient leaves it (metric_grad_fold; the far point's is taken inside the gradient). */
static float output_grad_cur(const output_space *o, float *cur, const float *y, size_t dim,
                             float *grad) {
    if (o->fn == NULL) {
        metric_grad_fold(o->kind, &o->prm, cur, dim);
    }
    return output_grad(o, cur, y, dim, grad);
}

/* umapc_output_metric names metric_grad_kind's gradients in the same order */
_Static_assert((int)UMAPC_OUTPUT_HAVERSINE == (int)GRAD_HAVERSINE &&
                   (int)UMAPC_OUTPUT_HYPERBOLOID == (int)GRAD_HYPERBOLOID &&
                   (int)UMAPC_OUTPUT_MINKOWSKI == (int)GRAD_MINKOWSKI &&
                   (int)UMAPC_OUTPUT_SEUCLIDEAN == (int)GRAD_SEUCLIDEAN &&
                   (int)UMAPC_OUTPUT_MAHALANOBIS == (int)GRAD_MAHALANOBIS &&
                   (int)UMAPC_OUTPUT_GAUSSIAN_ENERGY == (int)GRAD_GAUSSIAN_ENERGY &&
                   (int)UMAPC_OUTPUT_COUNT_ == (int)GRAD_KIND_COUNT_,
               "output metrics and gradient kinds differ");

/* NULL when the options' output metric (not a custom one) takes its parameters in dim
 * dimensions, else why not. */
static const char *output_check(int output_metric, double p, const float *params, size_t n_params,
                                size_t dim) {
    if (output_metric < 0 || output_metric >= UMAPC_OUTPUT_COUNT_) {
        return "unknown output metric";
    }
    metric_grad_params prm = {p, params, n_params};
    return metric_grad_check((metric_grad_kind)output_metric, &prm, dim);
}

umapc_status umapc_output_metric_grad(int output_metric, double p, const float *params,
                                      size_t n_params, const float *x, const float *y, size_t dim,
                                      float *dist, float *grad, umapc_error *err) {
    const char *why = output_check(output_metric, p, params, n_params, dim);
    if (why != NULL || x == NULL || y == NULL || dist == NULL || grad == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "output_metric_grad: %s",
                          why != NULL ? why : "a NULL vector");
    }
    metric_grad_params prm = {p, params, n_params};
    *dist = metric_grad((metric_grad_kind)output_metric, &prm, x, y, dim, grad);
    return UMAPC_OK;
}

static float generic_weight(const layout_consts *c, float dist) {
    return dist > 0.0f ? 1.0f / (1.0f + c->a * powf(dist, 2.0f * c->b)) : 1.0f;
}

static void exec_op_generic(const layout_block *blk, const layout_consts *c, const void *ctx,
                            size_t dim, int32_t k, int32_t self, float *cur, float *work) {
    const output_space *o = ctx;
    float *grad = work, *rev = work + dim;
    uint32_t other = (uint32_t)blk->other[k];
    if (other & LAYOUT_ATTRACT_BIT) {
        const float *far = blk->emb + (size_t)(other & ~LAYOUT_ATTRACT_BIT) * dim;
        int32_t slot = blk->slot[k];
        float *move = slot >= 0 && blk->moves != NULL ? blk->moves + (size_t)slot * dim : NULL;
        float dist = output_grad_cur(o, cur, far, dim, grad);
        float coeff = 2.0f * c->b * (generic_weight(c, dist) - 1.0f) / (dist + 1e-6f);
        if (move != NULL) {
            output_grad(o, far, cur, dim, rev);
            for (size_t d = 0; d < dim; d++) {
                move[d] = -(layout_clip(coeff * rev[d]) * c->alpha);
            }
        }
        for (size_t d = 0; d < dim; d++) {
            cur[d] = cur[d] + layout_clip(coeff * grad[d]) * c->alpha;
        }
    }
    for (int32_t q = 1; q <= blk->n_neg[k]; q++) {
        int32_t r = layout_negative(blk->key[k], (uint32_t)q, blk->n_tail);
        if (r == self) {
            continue;
        }
        float dist = output_grad_cur(o, cur, blk->emb + (size_t)r * dim, dim, grad);
        float coeff = c->repel * generic_weight(c, dist) / (dist + 1e-6f);
        for (size_t d = 0; d < dim; d++) {
            cur[d] = cur[d] + layout_clip(coeff * grad[d]) * c->alpha;
        }
    }
}

static void exec_generic(const layout_block *blk, const layout_consts *c, const output_space *o,
                         size_t dim, float *buf) {
    exec_points(blk, c, o, dim, buf, buf + dim, exec_op_generic);
}

static void exec2_scalar(const layout_block *blk, const layout_consts *c) {
    float cur[2], sum[2];
    umapc_layout_exec_scalar(blk, c, 2, cur, sum);
}

static const layout_exec2_fn exec2_by_level[UMAPC_LEVEL_COUNT] = {
    [UMAPC_LEVEL_SCALAR] = exec2_scalar,
#if defined(UMAPC_HAVE_X86_KERNELS)
    [UMAPC_LEVEL_AVX2] = umapc_layout_exec2_avx2,
    [UMAPC_LEVEL_AVX512] = umapc_layout_exec2_avx512,
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    [UMAPC_LEVEL_NEON] = umapc_layout_exec2_neon,
#endif
};

/* The 2-D executor of the level in use (cpu.h); the result does not depend on it. */
static layout_exec2_fn pick_exec2(void) {
    layout_exec2_fn fn = exec2_by_level[umapc_cpu_level()];
    return fn != NULL ? fn : exec2_scalar;
}

/* ------------------------------------------------------------------------------------------ */
/* epochs                                                                                      */

typedef struct sgd {
    epoch_sched es;
    layout_consts k;
    layout_exec2_fn exec2;
    size_t dim, block, round;
    float *pos; /* the embedding being optimised: others are read here */
    const float
        *emb;       /* the other ends: pos in a fit, the fixed training embedding in a transform */
    float *scratch; /* fit: a round's points after their ops, until the round ends */
    float *moves;   /* fit: per edge, the move of its head (its tail takes it back) */
    ops_buf *bufs;  /* fit: per block of a round (the round's end reads them); else per thread */
    const layout_dens *dens_now; /* densMAP in this epoch, else NULL */
    float *curs;                 /* per thread, 4 dim floats, for the scalar executors */
    const output_space *output;  /* a non-euclidean embedding space, else NULL */
} sgd;

/* Schedule and execute points lo .. hi-1, block bk of its round; -1 when out of memory. */
static int run_block(const sgd *s, size_t bk, size_t lo, size_t hi) {
    int t = umapc_thread_id();
    ops_buf *b = &s->bufs[s->es.fit ? bk : (size_t)t];
    if (block_ops(&s->es, b, lo, hi) != 0 ||
        (s->es.fit && sort_sampled(s->es.p, b, (size_t)umapc_team_size()) != 0)) {
        return -1;
    }
    layout_block blk = {.other = b->other,
                        .slot = b->slot,
                        .n_neg = b->n_neg,
                        .key = b->key,
                        .beg = b->beg,
                        .lo = (int32_t)lo,
                        .n = (int32_t)(hi - lo),
                        .self_base = s->es.fit ? 0 : -1,
                        .n_tail = s->es.n_tail,
                        .self_in = s->pos,
                        .self_out = s->es.fit ? s->scratch : s->pos,
                        .emb = s->emb,
                        .moves = s->moves,
                        .dens = s->dens_now};
    float *cur = s->curs + 4 * (size_t)t * s->dim;
    if (s->output != NULL) {
        exec_generic(&blk, &s->k, s->output, s->dim, cur);
    } else if (s->dim == 2) {
        s->exec2(&blk, &s->k);
    } else {
        umapc_layout_exec_scalar(&blk, &s->k, s->dim, cur, cur + s->dim);
    }
    return 0;
}

#define END_ROUND_AHEAD 8

/* The end of a round of a fit: its points take their new positions, then the tails of its sampled
 * edges take back the edges' moves. Each thread owns a range of tails and adds their moves in edge
 * order, so the sums do not depend on the thread count. Called by every thread of the team. */
static void end_round(const sgd *s, size_t lo, size_t hi, size_t n_blocks) {
    const plan *p = s->es.p;
    size_t dim = s->dim, n = p->n_head;
    size_t t = (size_t)umapc_thread_id(), nt = (size_t)umapc_team_size();
    uint64_t scale = owner_scale(n, nt);
    size_t k_lo = owned_from(t, n, scale), k_hi = owned_from(t + 1, n, scale);
    /* the thread's own points of the round first: it alone writes them until the barrier */
    size_t c_lo = k_lo > lo ? k_lo : lo, c_hi = k_hi < hi ? k_hi : hi;
    if (c_lo < c_hi) {
        memcpy(s->pos + c_lo * dim, s->scratch + c_lo * dim, (c_hi - c_lo) * dim * sizeof *s->pos);
    }
    for (size_t bk = 0; bk < n_blocks; bk++) {
        const ops_buf *b = &s->bufs[bk];
        size_t end = b->owner_beg[t + 1];
        for (size_t i = b->owner_beg[t]; i < end; i++) {
            /* the tails are scattered over the embedding: ask for one a few edges ahead */
            if (i + END_ROUND_AHEAD < end) {
                __builtin_prefetch(
                    s->pos + (size_t)p->out_idx[b->sorted[i + END_ROUND_AHEAD]] * dim, 1);
            }
            size_t e = (size_t)b->sorted[i], k = (size_t)p->out_idx[e];
            for (size_t d = 0; d < dim; d++) {
                s->pos[k * dim + d] = s->pos[k * dim + d] - s->moves[e * dim + d];
            }
        }
    }
#pragma omp barrier
}

/* One epoch in rounds of consecutive points. Within a round every point is read as it was when the
 * round began; a round sees everything the earlier rounds did, as umap-learn's sequential loop
 * sees every earlier move. (One round per epoch read positions up to an epoch old and took back
 * every move at the end: measurably worse embeddings, trustworthiness -0.005 on Fashion-MNIST.) The
 * rounds depend on the number of points only, so the result does not depend on the threads. */
static int run_epoch(const sgd *s, int n_threads) {
    size_t n = s->es.p->n_head, round = s->es.fit ? s->round : n;
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    for (size_t lo = 0; lo < n; lo += round) {
        size_t hi = lo + round < n ? lo + round : n;
        size_t blk = s->block, n_blocks = (hi - lo + blk - 1) / blk;
#pragma omp for schedule(dynamic, 1)
        for (size_t bk = 0; bk < n_blocks; bk++) {
            size_t b_lo = lo + bk * blk, b_hi = b_lo + blk < hi ? b_lo + blk : hi;
            failed |= run_block(s, bk, b_lo, b_hi) != 0;
        }
        if (s->es.fit) {
            end_round(s, lo, hi, n_blocks);
        }
    }
    return failed ? -1 : 0;
}

static int finite_float(double v) {
    return fabs(v) <= FLT_MAX;
}

static umapc_status check_layout_args(const float *head, size_t n_head, const float *tail,
                                      size_t n_tail, size_t dim, const umapc_graph *graph,
                                      const umapc_layout_options *o, umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (head == NULL || n_head == 0 || dim == 0 || n_head > INT32_MAX ||
        (tail != NULL && n_tail > INT32_MAX)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: need a non-empty head embedding with >= 1 column and "
                          "at most 2^31 - 1 points");
    }
    size_t cols = tail ? n_tail : n_head;
    if (graph->n_rows != n_head || graph->n_cols != cols) {
        return umapc_fail(
            err, UMAPC_ERR_INVALID_ARGUMENT,
            "optimize_layout: graph is %zu x %zu but embeddings have %zu and %zu rows",
            graph->n_rows, graph->n_cols, n_head, cols);
    }
    /* a, b, the rate and gamma are used as floats: finite means finite in float */
    if (o->n_epochs < 0 || !(o->a > 0.0) || !(o->b > 0.0) || !finite_float(o->a) ||
        !finite_float(o->b) || !(o->learning_rate >= 0.0) || !finite_float(o->learning_rate) ||
        !(o->repulsion_strength >= 0.0) || !finite_float(o->repulsion_strength) ||
        !(o->negative_sample_rate >= 0.0) || !isfinite(o->negative_sample_rate)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: need n_epochs >= 0, finite a > 0, b > 0, "
                          "learning_rate >= 0, repulsion_strength >= 0 and "
                          "negative_sample_rate >= 0");
    }
    int custom = o->output_metric == UMAPC_OUTPUT_CUSTOM;
    const char *why = custom ? NULL
                             : output_check(o->output_metric, o->output_p, o->output_params,
                                            o->n_output_params, dim);
    if (why != NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "optimize_layout: %s", why);
    }
    if ((custom && o->output_fn == NULL) ||
        (o->output_metric != UMAPC_OUTPUT_EUCLIDEAN && tail == NULL && o->densmap)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: a custom output metric without its function, or "
                          "densMAP with a non-euclidean output metric");
    }
    if (o->n_snapshots > 0) {
        int run = o->n_epochs > 0 ? o->n_epochs : (n_head <= 10000 ? 500 : 200);
        size_t floats = umapc_mul_size(umapc_mul_size(o->n_snapshots, n_head), dim);
        int sorted = o->snapshot_epochs != NULL;
        for (size_t k = 0; sorted && k < o->n_snapshots; k++) {
            int32_t e = o->snapshot_epochs[k];
            sorted = e >= 1 && e <= run && (k == 0 || e >= o->snapshot_epochs[k - 1]);
        }
        if (!sorted || o->snapshots == NULL || floats > SIZE_MAX / sizeof(float)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "optimize_layout: snapshots need their buffer (n_snapshots x "
                              "n_head x dim floats, within size_t) and non-decreasing epochs "
                              "from 1 to the run's %d",
                              run);
        }
    }
    if (tail == NULL && o->densmap &&
        (!(o->dens_frac >= 0.0 && o->dens_frac <= 1.0) || !(o->dens_lambda >= 0.0) ||
         !(o->dens_var_shift >= 0.0) || o->dens_knn_indices == NULL || o->dens_knn_dists == NULL ||
         o->dens_k == 0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: densMAP needs 0 <= dens_frac <= 1, dens_lambda >= 0, "
                          "dens_var_shift >= 0 and the k-NN lists of the graph");
    }
    return UMAPC_OK;
}

static umapc_status build_plan(plan *p, const umapc_graph *graph, int n_epochs, double neg_rate,
                               int keep_weights, umapc_error *err) {
    memset(p, 0, sizeof *p);
    if (plan_out_edges(p, graph, n_epochs, neg_rate, keep_weights) != 0 ||
        p->out_ptr[p->n_head] > INT32_MAX) {
        plan_free(p);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY,
                          "optimize_layout: out of memory (or more than 2^31 - 1 edges)");
    }
    return UMAPC_OK;
}

/* Points per round and per block. More rounds read fresher positions (closer to umap-learn's
 * sequential loop) at the cost of a few barriers each and of SIMD lanes idle at each block's end.
 * UMAP's epochs use rounds of n^2 / 2^16 points, between ROUND_FIT_MIN and ROUND_MAX
 * (fit_round_points): a set of up to 2,048 points was one round per epoch, every read an epoch
 * old, and converged visibly later than umap-learn (digits, trustworthiness after 11 / 31 / 101
 * of 200 epochs 0.68 / 0.77 / 0.88 against 0.83 / 0.90 / 0.95; 0.85 / 0.91 / 0.94 with rounds of
 * 56 points), ending below it on COIL-20 (1,440 points, 5 seeds: 0.9904; 0.9926 with rounds of
 * 64 points; umap-learn 0.9926-0.9932). Rounds of a fixed share of the points cost time where a
 * set is larger: 1/32 of 10,000 points took 47% more layout time than 2,048 (lanes idle at the
 * ends of small blocks), so the share shrinks as n grows and the rounds reach ROUND_MAX at
 * 11,586 points. densMAP's move points further from where the
 * rest of a round reads them, so its epochs use rounds of 1/32 of the points, at least ROUND_MIN
 * (with one round per epoch, densMAP lost 0.02 of trustworthiness on the 1,797 digits). A round
 * is split into blocks, each scheduled and executed by one thread, large enough to keep the SIMD
 * lanes busy to the block's end. */
enum {
    ROUND_FIT_MIN = 64,
    ROUND_FIT_FULL = 11586, /* sqrt(2^16 ROUND_MAX) */
    ROUND_MIN = 256,
    ROUND_MAX = 2048,
    ROUND_SHARE = 32,
    BLOCK_MIN = 128,
    BLOCK_MAX = 1024
};

static size_t share_round_points(size_t n, size_t least) {
    size_t r = (n + ROUND_SHARE - 1) / ROUND_SHARE;
    return r < least ? least : (r > ROUND_MAX ? ROUND_MAX : r);
}

/* n^2 / 2^16 points: 65,536 / n rounds per epoch for small sets (28 for the 1,797 digits), fewer
 * as n grows, whole ROUND_MAX rounds from 11,586 points on. */
static size_t fit_round_points(size_t n) {
    if (n >= ROUND_FIT_FULL) {
        return ROUND_MAX;
    }
    size_t r = n * n / ((size_t)1 << 16);
    return r < ROUND_FIT_MIN ? ROUND_FIT_MIN : (r > ROUND_MAX ? ROUND_MAX : r);
}

static size_t dens_round_points(size_t n) {
    return share_round_points(n, ROUND_MIN);
}

/* A non-euclidean space's rounds: a sphere's gradients turn with the positions, and reading them
 * staler cost more than in the plane (haversine, digits, 200 epochs: trustworthiness 0.87-0.89
 * with one round per epoch, 0.939-0.947 with rounds of 256 points, 0.949-0.959 with n/32 = 56;
 * umap-learn 0.957). */
#define GENERIC_ROUND_MIN 32
static size_t generic_round_points(size_t n) {
    return share_round_points(n, GENERIC_ROUND_MIN);
}

static size_t block_size(size_t round, int n_threads) {
    size_t b = round / (4 * (size_t)n_threads);
    return b < BLOCK_MIN ? BLOCK_MIN : (b > BLOCK_MAX ? BLOCK_MAX : b);
}

/* Threads that pay for themselves: every round ends in barriers, and on a busy machine a thread
 * spinning there while its partner waits for a core costs more than a small round's work. Results
 * do not depend on the count, so capping it is safe. */
static int threads_for_edges(int requested, size_t n_edges) {
    size_t useful = 1 + n_edges / 50000;
    return useful < (size_t)requested ? (int)useful : requested;
}

typedef struct sgd_buffers {
    float *scratch;
    float *moves;
    ops_buf *bufs;
    size_t n_bufs;
    float *curs;
} sgd_buffers;

static void sgd_buffers_free(sgd_buffers *b) {
    umapc_aligned_free(b->scratch);
    free(b->moves);
    for (size_t i = 0; b->bufs != NULL && i < b->n_bufs; i++) {
        ops_buf_free(&b->bufs[i]);
    }
    umapc_aligned_free(b->bufs);
    free(b->curs);
}

static int sgd_buffers_alloc(sgd_buffers *b, const plan *p, size_t dim, int fit, int n_threads,
                             size_t blocks_per_round) {
    memset(b, 0, sizeof *b);
    size_t nnz = (size_t)p->out_ptr[p->n_head];
    b->n_bufs = fit ? blocks_per_round : (size_t)n_threads;
    b->bufs = umapc_aligned_alloc(b->n_bufs, sizeof *b->bufs);
    if (b->bufs != NULL) {
        memset(b->bufs, 0, b->n_bufs * sizeof *b->bufs);
    }
    b->curs = malloc(umapc_mul_size(umapc_mul_size(4 * (size_t)n_threads, dim), sizeof *b->curs));
    if (b->bufs == NULL || b->curs == NULL) {
        return -1;
    }
    if (!fit) {
        return 0;
    }
    b->scratch = umapc_aligned_alloc(umapc_mul_size(p->n_head, dim), sizeof *b->scratch);
    b->moves = malloc(umapc_mul_size(umapc_mul_size(nnz ? nnz : 1, dim), sizeof *b->moves));
    return b->scratch == NULL || b->moves == NULL ? -1 : 0;
}

/* densMAP applies to fits with a positive lambda (umap-learn: lambda 0 switches it off). */
static int densmap_on(const umapc_layout_options *o, const float *tail) {
    return tail == NULL && o->densmap && o->dens_lambda > 0.0;
}

/* seed < 0 asks for no particular seed: a fixed one keeps the run reproducible all the same */
static uint64_t layout_seed(const umapc_layout_options *o) {
    return o->seed >= 0 ? (uint64_t)o->seed : 0x5eed5eedULL;
}

/* The team of the next epoch. A fit's result does not depend on it, so it can follow the machine:
 * every round ends in barriers, and where other work shares the cores a thread waits at each of
 * them for a slice of the scheduler (70k points on a 2-core machine also running two niced test
 * suites: 64 s with 2 threads, 13 s with 1). The second epoch runs with one thread; after that
 * the team drops to one thread when one is faster, a team slower than its own best epoch by half
 * is checked against one thread again, and one thread tries the full team again after TEAM_RETRY
 * epochs, then twice as many after each retry that loses. Epochs of a fit do about the same work,
 * so their times compare. */
enum { TEAM_RETRY = 20 };

typedef struct team_tuner {
    int full;         /* the team asked for */
    int now;          /* the team of the current epoch */
    int steady;       /* the team kept between probes */
    double last[2];   /* the latest epoch with one thread [0] and with the full team [1] */
    double best_full; /* the full team's fastest epoch since the last probe */
    int since_retry;  /* epochs since the last probe; -1 before the first */
    int retry_after;  /* epochs of one thread before the full team is tried again */
} team_tuner;

static double wall_seconds(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return 0.0;
#endif
}

/* A fresh start (also when densMAP's epochs begin: they cost more): the next epoch is a probe. */
static void team_init(team_tuner *t, int full) {
    *t = (team_tuner){
        .full = full, .now = full, .steady = full, .since_retry = -1, .retry_after = TEAM_RETRY};
}

/* Records how long the epoch with t->now threads took and picks the next epoch's team. */
static void team_next(team_tuner *t, double seconds) {
    if (t->full == 1) {
        return;
    }
    int full = t->now == t->full;
    t->last[full] = seconds;
    if (t->now != t->steady) { /* a probe: keep the faster, against the epoch just before it */
        int was_one = t->steady == 1;
        t->steady = t->last[0] < t->last[1] ? 1 : t->full;
        /* a failed retry costs a slow epoch: each one waits twice as long as the one before */
        t->retry_after = was_one && t->steady == 1 ? 2 * t->retry_after : TEAM_RETRY;
        t->now = t->steady;
        t->best_full = t->last[1]; /* what the full team does under the load of now */
        t->since_retry = 0;
        return;
    }
    if (full && (t->best_full == 0.0 || seconds < t->best_full)) {
        t->best_full = seconds;
    }
    int fresh = t->since_retry < 0, slow = full && seconds > 1.5 * t->best_full;
    t->since_retry++;
    if (fresh || slow || (!full && t->since_retry >= t->retry_after)) {
        t->now = full ? 1 : t->full;
    }
}

/* The state of a run of epochs between them: what run_epochs kept on its stack until the epochs
 * could be driven from outside (layout_internal.h). Never moved once opened: sgd points into it. */
typedef struct layout_run {
    plan p;
    sgd_buffers bufs;
    sgd s;
    output_space output;
    dens_state dens;
    umapc_graph pruned;
    umapc_layout_options o;
    team_tuner team;
    size_t round, block, dens_round, dens_block;
    size_t n_head;
    const int32_t *order; /* a fit's: position row is head point order[row]; NULL: the same */
    int n_threads, n_epochs, use_dens;
    float alpha;      /* of the next epoch */
    float alpha_last; /* of the epoch just run */
} layout_run;

static void run_close(layout_run *L) {
    dens_free(&L->dens);
    sgd_buffers_free(&L->bufs);
    plan_free(&L->p);
}

static umapc_status run_open(layout_run *L, float *head, size_t n_head, const float *tail,
                             size_t n_tail, size_t dim, const umapc_graph *graph,
                             const umapc_layout_options *o, int n_epochs, umapc_error *err) {
    memset(L, 0, sizeof *L);
    umapc_status st =
        build_plan(&L->p, graph, n_epochs, o->negative_sample_rate, densmap_on(o, tail), err);
    if (st) {
        return st;
    }
    plan *p = &L->p;
    L->o = *o;
    L->n_epochs = n_epochs;
    L->n_head = n_head;
    int n_threads = L->n_threads =
        threads_for_edges(umapc_resolve_threads(o->n_threads), (size_t)p->out_ptr[n_head]);
    int fit = tail == NULL;
    size_t dens_round = L->dens_round = dens_round_points(n_head);
    size_t round = L->round =
        !fit ? n_head
             : (o->output_metric != UMAPC_OUTPUT_EUCLIDEAN ? generic_round_points(n_head)
                                                           : fit_round_points(n_head));
    size_t block = L->block = block_size(round < n_head ? round : n_head, n_threads);
    size_t dens_block = L->dens_block =
        block_size(dens_round < n_head ? dens_round : n_head, n_threads);
    size_t blocks = (round + block - 1) / block,
           dens_blocks = (dens_round + dens_block - 1) / dens_block;
    if (sgd_buffers_alloc(&L->bufs, p, dim, fit, n_threads,
                          blocks > dens_blocks ? blocks : dens_blocks) != 0) {
        run_close(L);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
    }
    float a = (float)o->a, b = (float)o->b;
    L->s = (sgd){.es = {.p = p, .n_tail = (uint32_t)(fit ? n_head : n_tail), .fit = fit},
                 .k = {.a = a,
                       .b = b,
                       .attract = -2.0f * a * b,
                       .repel = 2.0f * (float)o->repulsion_strength * b,
                       .b_is_one = b == 1.0f},
                 .exec2 = pick_exec2(),
                 .dim = dim,
                 .round = round,
                 .block = block,
                 .pos = head,
                 .emb = fit ? head : tail,
                 .scratch = L->bufs.scratch,
                 .moves = L->bufs.moves,
                 .bufs = L->bufs.bufs,
                 .curs = L->bufs.curs};
    int custom = o->output_metric == UMAPC_OUTPUT_CUSTOM;
    L->output = (output_space){.kind = custom ? GRAD_EUCLIDEAN : (metric_grad_kind)o->output_metric,
                               .prm = {o->output_p, o->output_params, o->n_output_params},
                               .fn = custom ? o->output_fn : NULL,
                               .ctx = o->output_ctx};
    L->s.output = o->output_metric != UMAPC_OUTPUT_EUCLIDEAN ? &L->output : NULL;
    L->alpha = (float)o->learning_rate;
    L->pruned = (umapc_graph){n_head,     n_head,     (size_t)p->out_ptr[n_head],
                              p->out_ptr, p->out_idx, p->weight};
    L->use_dens = densmap_on(o, tail);
    if (L->use_dens && dens_prepare(&L->dens, &L->pruned, &L->o, n_threads) != 0) {
        run_close(L);
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: densMAP needs the k-NN lists of the graph (or memory)");
    }
    team_init(&L->team, n_threads);
    return UMAPC_OK;
}

/* Epoch `epoch` of the run; the caller reports progress. */
static umapc_status run_step(layout_run *L, int epoch, umapc_error *err) {
    sgd *s = &L->s;
    const umapc_layout_options *o = &L->o;
    int n_epochs = L->n_epochs;
    s->dens_now = NULL;
    s->round = L->round;
    s->block = L->block;
    if (L->use_dens && (double)(epoch + 1) / n_epochs > 1.0 - o->dens_frac) {
        if ((double)epoch / n_epochs <= 1.0 - o->dens_frac) { /* the first such epoch */
            team_init(&L->team, L->n_threads);
        }
        dens_epoch(&L->dens, &L->pruned, s->pos, s->dim, s->k.a, s->k.b, L->n_threads);
        s->dens_now = &L->dens.view;
        s->round = L->dens_round;
        s->block = L->dens_block;
    }
    s->es.epoch = epoch;
    s->es.now = (float)epoch;
    s->es.epoch_key = umapc_rand_at(layout_seed(o), (uint64_t)epoch, 0);
    s->k.alpha = L->alpha;
    L->alpha_last = L->alpha;
    double started = wall_seconds();
    if (run_epoch(s, L->team.now) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
    }
    team_next(&L->team, wall_seconds() - started);
    L->alpha = (float)(o->learning_rate * (1.0 - (double)epoch / (double)n_epochs));
    return UMAPC_OK;
}

/* The snapshots due once `done` epochs have run, from snapshot *next on, in head's order. */
static void take_snapshots(const layout_run *L, int done, size_t *next) {
    const umapc_layout_options *o = &L->o;
    size_t dim = L->s.dim, n = L->n_head;
    for (; *next < o->n_snapshots && o->snapshot_epochs[*next] == done; (*next)++) {
        float *out = o->snapshots + *next * n * dim;
        const float *pos = L->s.pos;
        if (L->order == NULL) {
            memcpy(out, pos, n * dim * sizeof *out);
            continue;
        }
        for (size_t row = 0; row < n; row++) {
            memcpy(out + (size_t)L->order[row] * dim, pos + row * dim, dim * sizeof *out);
        }
    }
}

static umapc_status run_epochs(layout_run *L, const umapc_progress *progress, umapc_error *err) {
    umapc_status st = UMAPC_OK;
    size_t next = 0;
    for (int epoch = 0; epoch < L->n_epochs && !st; epoch++) {
        st = run_step(L, epoch, err);
        if (!st) {
            take_snapshots(L, epoch + 1, &next);
        }
        if (!st && umapc_progress_report(progress, "optimize layout", (size_t)epoch + 1,
                                         (size_t)L->n_epochs)) {
            st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
        }
    }
    return st;
}

static umapc_status optimize(float *head, size_t n_head, const float *tail, size_t n_tail,
                             size_t dim, const umapc_graph *graph, const umapc_layout_options *opts,
                             int n_epochs, const umapc_progress *progress, umapc_error *err) {
    layout_run L;
    umapc_status st = run_open(&L, head, n_head, tail, n_tail, dim, graph, opts, n_epochs, err);
    if (st) {
        return st;
    }
    st = run_epochs(&L, progress, err);
    run_close(&L);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* a fit's order                                                                               */

/* A fit runs its points in rounds of consecutive points, each reading the others where the round
 * found them, so the round's points should be unrelated to each other, whatever order the data
 * came in. Data sorted by class (20 Newsgroups' sentence embeddings: 99.8% of consecutive rows
 * share a label) put a round's points in one cluster, pulling on each other's stale positions:
 * trustworthiness 0.936 against 0.940 with the same rows shuffled (umap-learn: 0.943). A fit
 * therefore runs on the points relabelled in a random order drawn from the seed, and the result
 * is mapped back: the same for any input order up to that draw, still for any thread count. */
#define LAYOUT_ORDER_STREAM 0x6c61796f75746f72ULL

/* order[r]: the point processed r-th, a Fisher-Yates shuffle from (seed, stream, position); rank
 * is its inverse. tests/python/test_layout_reference.py draws the same. */
static void draw_order(uint64_t seed, size_t n, int32_t *order, int32_t *rank) {
    for (size_t i = 0; i < n; i++) {
        order[i] = (int32_t)i;
    }
    for (size_t i = n; i-- > 1;) {
        uint64_t r = umapc_rand_at(seed, LAYOUT_ORDER_STREAM, i);
        size_t j = (size_t)(((r >> 32) * (uint64_t)(i + 1)) >> 32);
        int32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t r = 0; r < n; r++) {
        rank[order[r]] = (int32_t)r;
    }
}

/* The fit's inputs with its points relabelled: row r is point order[r], its entries renamed and
 * sorted by their new columns (a graph as every stage expects it, densMAP's radii included). */
typedef struct relabelled {
    int32_t *order, *rank;
    umapc_graph graph;
    float *head;
    umapc_idx *knn;   /* densMAP's lists, or NULL */
    float *knn_dists; /* densMAP's distances, or NULL */
} relabelled;

static void relabelled_free(relabelled *r) {
    free(r->order);
    free(r->rank);
    umapc_graph_free(&r->graph);
    free(r->head);
    free(r->knn);
    free(r->knn_dists);
    memset(r, 0, sizeof *r);
}

/* Insertion sort of a row's entries by column: rows hold a few dozen. */
static void sort_row(umapc_idx *cols, float *w, size_t m) {
    for (size_t i = 1; i < m; i++) {
        umapc_idx c = cols[i];
        float v = w[i];
        size_t j = i;
        for (; j > 0 && cols[j - 1] > c; j--) {
            cols[j] = cols[j - 1];
            w[j] = w[j - 1];
        }
        cols[j] = c;
        w[j] = v;
    }
}

static void relabel_graph(const relabelled *r, const umapc_graph *g) {
    int64_t at = 0;
    r->graph.indptr[0] = 0;
    for (size_t row = 0; row < g->n_rows; row++) {
        size_t old = (size_t)r->order[row];
        int64_t beg = at;
        for (int64_t e = g->indptr[old]; e < g->indptr[old + 1]; e++, at++) {
            r->graph.indices[at] = r->rank[g->indices[e]];
            r->graph.data[at] = g->data[e];
        }
        sort_row(r->graph.indices + beg, r->graph.data + beg, (size_t)(at - beg));
        r->graph.indptr[row + 1] = at;
    }
}

static void relabel_knn(const relabelled *r, const umapc_layout_options *o, size_t n) {
    size_t k = o->dens_k;
    for (size_t row = 0; row < n; row++) {
        size_t old = (size_t)r->order[row];
        for (size_t c = 0; c < k; c++) {
            umapc_idx id = o->dens_knn_indices[old * k + c];
            r->knn[row * k + c] = id >= 0 && (size_t)id < n ? r->rank[id] : id;
            r->knn_dists[row * k + c] = o->dens_knn_dists[old * k + c];
        }
    }
}

static int relabel(relabelled *r, const float *head, size_t n, size_t dim, const umapc_graph *g,
                   const umapc_layout_options *o, uint64_t seed) {
    memset(r, 0, sizeof *r);
    int dens = o->densmap && o->dens_knn_indices != NULL && o->dens_knn_dists != NULL;
    size_t nk = dens ? umapc_mul_size(n, o->dens_k) : 0;
    r->order = malloc((n ? n : 1) * sizeof *r->order);
    r->rank = malloc((n ? n : 1) * sizeof *r->rank);
    r->head = malloc(umapc_mul_size(umapc_mul_size(n ? n : 1, dim), sizeof *r->head));
    if (dens) {
        r->knn = malloc(umapc_mul_size(nk ? nk : 1, sizeof *r->knn));
        r->knn_dists = malloc(umapc_mul_size(nk ? nk : 1, sizeof *r->knn_dists));
    }
    if (r->order == NULL || r->rank == NULL || r->head == NULL ||
        (dens && (r->knn == NULL || r->knn_dists == NULL)) ||
        umapc_graph_alloc(&r->graph, g->n_rows, g->n_cols, g->nnz) != 0) {
        return -1;
    }
    draw_order(seed, n, r->order, r->rank);
    relabel_graph(r, g);
    for (size_t row = 0; row < n; row++) {
        memcpy(r->head + row * dim, head + (size_t)r->order[row] * dim, dim * sizeof *head);
    }
    if (dens) {
        relabel_knn(r, o, n);
    }
    return 0;
}

/* A fit with its epochs driven from outside (layout_internal.h): the relabelled inputs and the
 * run on them. */
struct layout_fit {
    relabelled r;
    layout_run run;
    float *head; /* the caller's, in the caller's order */
    size_t n, dim;
};

static umapc_status fit_open(layout_fit **out, float *head, size_t n, size_t dim,
                             const umapc_graph *graph, const umapc_layout_options *opts,
                             int n_epochs, umapc_error *err) {
    *out = NULL;
    layout_fit *f = malloc(sizeof *f);
    if (f == NULL || relabel(&f->r, head, n, dim, graph, opts, layout_seed(opts)) != 0) {
        if (f != NULL) {
            relabelled_free(&f->r);
        }
        free(f);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
    }
    umapc_layout_options o = *opts;
    if (f->r.knn != NULL) {
        o.dens_knn_indices = f->r.knn;
        o.dens_knn_dists = f->r.knn_dists;
    }
    f->head = head;
    f->n = n;
    f->dim = dim;
    umapc_status st = run_open(&f->run, f->r.head, n, NULL, 0, dim, &f->r.graph, &o, n_epochs, err);
    if (st) {
        relabelled_free(&f->r);
        free(f);
        return st;
    }
    f->run.order = f->r.order;
    *out = f;
    return UMAPC_OK;
}

umapc_status layout_open(layout_fit **out, float *head, size_t n, size_t dim,
                         const umapc_graph *graph, const umapc_layout_options *opts, int n_epochs,
                         umapc_error *err) {
    if (out == NULL || opts == NULL || n_epochs <= 0 || opts->n_snapshots != 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: need a handle, options, n_epochs > 0 and no "
                          "snapshots (the caller drives the epochs)");
    }
    umapc_status st = check_layout_args(head, n, NULL, 0, dim, graph, opts, err);
    return st ? st : fit_open(out, head, n, dim, graph, opts, n_epochs, err);
}

umapc_status layout_epoch(layout_fit *f, int epoch, umapc_error *err) {
    return run_step(&f->run, epoch, err);
}

float *layout_positions(layout_fit *f) {
    return f->r.head;
}

const int32_t *layout_rank(const layout_fit *f) {
    return f->r.rank;
}

float layout_alpha(const layout_fit *f) {
    return f->run.alpha_last;
}

void layout_close(layout_fit *f) {
    if (f == NULL) {
        return;
    }
    /* an interrupted fit leaves its last positions too, as an unrelabelled one did */
    for (size_t row = 0; row < f->n; row++) {
        memcpy(f->head + (size_t)f->r.order[row] * f->dim, f->r.head + row * f->dim,
               f->dim * sizeof *f->head);
    }
    run_close(&f->run);
    relabelled_free(&f->r);
    free(f);
}

static umapc_status fit_in_order(float *head, size_t n, size_t dim, const umapc_graph *graph,
                                 const umapc_layout_options *opts, int n_epochs,
                                 const umapc_progress *progress, umapc_error *err) {
    layout_fit *f;
    umapc_status st = fit_open(&f, head, n, dim, graph, opts, n_epochs, err);
    if (st) {
        return st;
    }
    st = run_epochs(&f->run, progress, err);
    layout_close(f);
    return st;
}

umapc_status umapc_optimize_layout(float *head, size_t n_head, const float *tail, size_t n_tail,
                                   size_t dim, const umapc_graph *graph,
                                   const umapc_layout_options *opts, const umapc_progress *progress,
                                   umapc_error *err) {
    umapc_layout_options defaults;
    if (opts == NULL) {
        umapc_layout_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status st = check_layout_args(head, n_head, tail, n_tail, dim, graph, opts, err);
    if (st) {
        return st;
    }
    int n_epochs = opts->n_epochs > 0 ? opts->n_epochs : (n_head <= 10000 ? 500 : 200);
    if (tail == NULL) {
        return fit_in_order(head, n_head, dim, graph, opts, n_epochs, progress, err);
    }
    return optimize(head, n_head, tail, n_tail, dim, graph, opts, n_epochs, progress, err);
}
