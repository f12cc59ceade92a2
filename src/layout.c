/* UMAP layout optimisation (umap-learn's optimize_layout_euclidean) and the small steps around it:
 * the a/b curve fit, rescaling of initial embeddings and the initial positions of new points.
 *
 * Every point is owned by one thread per epoch and only that thread writes it: the pull that
 * umap-learn applies to the tail of an edge ("move_other") is applied by the tail itself, from its
 * in-edges, which carry the same sampling schedule. In 2-D on AVX-512 CPUs each block of
 * points is first turned into a list of "ops" per point (layout_kernels.h) which then run with
 * one point per SIMD lane (layout_avx512.c); elsewhere one sampled edge's attraction and negative
 * samples are evaluated together in SIMD lanes (layout_avx2.c), several points' edge chains
 * interleaved per thread. Without atomics or locks this gives
 * - deterministic mode (seed >= 0): other points are read from the previous epoch's positions, a
 *   point's own moves apply at once, random numbers are keyed by (seed, epoch, edge); the result
 *   is the same for any thread count and schedule;
 * - Hogwild mode (seed < 0): one shared embedding read while other threads write it, like
 *   umap-learn's parallel mode (racy reads of floats, no lost writes). */
#include "graph_internal.h"
#include "layout_kernels.h"
#include "umapc/layout.h"

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
}

/* Edges that survive pruning, by head, with umap-learn's sampling state. The in-edge arrays are
 * the transpose (or, for a symmetric graph, alias the out-edge arrays); each side has its own
 * "next sample" state so that only the owner of a point writes it. */
typedef struct plan {
    size_t n_head;
    int64_t *out_ptr;
    umapc_idx *out_idx;
    float *eps;        /* epochs per sample */
    float *next;       /* epoch of next sample, head side */
    float *eps_neg;    /* epochs per negative sample */
    float *next_neg;   /* epoch of next negative sample */
    uint64_t *edge_id; /* position in the caller's graph: the random stream of the edge */
    int64_t *in_ptr;   /* transpose, only for move_other on an asymmetric graph */
    umapc_idx *in_idx;
    float *in_eps;
    float *in_next;
    int symmetric; /* the transpose equals the graph: in-edges are sampled with their twins */
} plan;

static void plan_free(plan *p) {
    free(p->out_ptr);
    free(p->out_idx);
    free(p->eps);
    free(p->next);
    free(p->eps_neg);
    free(p->next_neg);
    free(p->edge_id);
    free(p->in_ptr);
    free(p->in_idx);
    free(p->in_eps);
    free(p->in_next);
    memset(p, 0, sizeof *p);
}

static int plan_alloc_out(plan *p, size_t n_head, size_t nnz) {
    size_t m = nnz ? nnz : 1;
    p->n_head = n_head;
    p->out_ptr = calloc(n_head + 1, sizeof *p->out_ptr);
    p->out_idx = malloc(m * sizeof *p->out_idx);
    p->eps = malloc(m * sizeof *p->eps);
    p->next = malloc(m * sizeof *p->next);
    p->eps_neg = malloc(m * sizeof *p->eps_neg);
    p->next_neg = malloc(m * sizeof *p->next_neg);
    p->edge_id = malloc(m * sizeof *p->edge_id);
    return p->out_ptr && p->out_idx && p->eps && p->next && p->eps_neg && p->next_neg && p->edge_id
               ? 0
               : -1;
}

/* Keeps edges with weight >= max / n_epochs and sets umap-learn's make_epochs_per_sample
 * schedule (an edge of weight w is sampled every max / w epochs). */
static int plan_out_edges(plan *p, const umapc_graph *g, int n_epochs, double neg_rate) {
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
            p->eps_neg[at] = (float)((double)p->eps[at] / neg_rate);
            p->next_neg[at] = p->eps_neg[at];
            p->edge_id[at] = (uint64_t)e;
            at++;
        }
        p->out_ptr[r + 1] = (int64_t)at;
    }
    return 0;
}

/* The in-edges of an asymmetric graph, each with its own schedule, so the tail applies the pull
 * of the edges it ends. */
static int plan_in_edges(plan *p) {
    size_t nnz = (size_t)p->out_ptr[p->n_head];
    p->in_next = malloc((nnz ? nnz : 1) * sizeof *p->in_next);
    if (p->in_next == NULL) {
        return -1;
    }
    umapc_graph fwd = {p->n_head, p->n_head, nnz, p->out_ptr, p->out_idx, p->eps};
    umapc_graph rev;
    if (umapc_graph_transpose(&fwd, &rev, NULL) != 0) {
        return -1;
    }
    p->in_ptr = rev.indptr;
    p->in_idx = rev.indices;
    p->in_eps = rev.data;
    memcpy(p->in_next, p->in_eps, nnz * sizeof *p->in_next);
    p->symmetric = memcmp(p->in_ptr, p->out_ptr, (p->n_head + 1) * sizeof *p->in_ptr) == 0 &&
                   memcmp(p->in_idx, p->out_idx, nnz * sizeof *p->in_idx) == 0 &&
                   memcmp(p->in_eps, p->eps, nnz * sizeof *p->in_eps) == 0;
    return 0;
}

typedef struct sgd {
    const plan *p;
    const float *others; /* positions of the other end of edges (snapshot, live or fixed tail) */
    const float *self_in;
    float *self_out;
    size_t n_tail;
    int move_other;
    float a, b, gamma, alpha;
    uint64_t seed;
    uint64_t epoch_key; /* hash of (seed, epoch): edge streams derive from it with one mix */
    int epoch;
    layout_edge2_fn edge2; /* 2-D kernel for this CPU */
    int lanes2;            /* 2-D ops run one point per lane (AVX-512) */
    struct ops_buf *bufs;  /* per thread, with lanes2 */
    size_t lane_block;     /* points per block, with lanes2 */
    layout_consts k;
} sgd;

static inline float clip4(float v) {
    return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v);
}

/* x^b for the SGD as exp2(b log2 x) with polynomials fitted on [sqrt(1/2), sqrt(2)) and
 * [-1/2, 1/2]: relative error about 1e-7, i.e. float rounding, at a third of powf's cost (powf
 * was half of the layout time). */
static inline float fast_log2(float x) {
    union {
        float f;
        uint32_t u;
    } v = {x};
    int e = (int)((v.u >> 23) & 0xff) - 127;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u;
    float m = v.f;
    if (m > 1.41421356f) {
        m *= 0.5f;
        e++;
    }
    float t = m - 1.0f;
    float p = 1.261500205e-01f;
    p = p * t - 2.074235521e-01f;
    p = p * t + 2.156704277e-01f;
    p = p * t - 2.389200412e-01f;
    p = p * t + 2.879182434e-01f;
    p = p * t - 3.607048381e-01f;
    p = p * t + 4.809106123e-01f;
    p = p * t - 7.213473333e-01f;
    p = p * t + 1.442695004e+00f;
    return (float)e + t * p;
}

static inline float fast_exp2(float y) {
    y = y < -126.0f ? -126.0f : (y > 126.0f ? 126.0f : y);
    float r = rintf(y);
    float f = y - r;
    float p = 1.546973610e-04f;
    p = p * f + 1.340043695e-03f;
    p = p * f + 9.618025590e-03f;
    p = p * f + 5.550327202e-02f;
    p = p * f + 2.402265121e-01f;
    p = p * f + 6.931472067e-01f;
    p = p * f + 1.0f;
    union {
        float f;
        uint32_t u;
    } scale = {.u = (uint32_t)((int)r + 127) << 23};
    return p * scale.f;
}

static inline float pow_b(float d2, float b) {
    if (b == 1.0f) {
        return d2;
    }
    /* Below 2^-100 (and for denormals) the polynomial's exponent handling does not hold. */
    return d2 > 7.9e-31f ? fast_exp2(b * fast_log2(d2)) : powf(d2, b);
}

static inline uint64_t mix64(uint64_t x) {
    return layout_mix64(x);
}

static inline float attract_coeff(const sgd *s, float d2) {
    if (!(d2 > 0.0f)) {
        return 0.0f;
    }
    float pw = pow_b(d2, s->b);
    return -2.0f * s->a * s->b * (pw / d2) / (s->a * pw + 1.0f);
}

static inline float dist2(const float *x, const float *y, size_t dim) {
    float d2 = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = x[d] - y[d];
        d2 += t * t;
    }
    return d2;
}

static inline void pull(float *cur, const float *other, float coeff, float alpha, size_t dim) {
    for (size_t d = 0; d < dim; d++) {
        cur[d] += clip4(coeff * (cur[d] - other[d])) * alpha;
    }
}

/* The random stream of edge e in this epoch, keyed by (seed, epoch, edge) like umapc_rand_at but
 * with one hash per edge: it runs for every sampled edge. */
static inline uint64_t edge_stream(const sgd *s, int64_t e) {
    return mix64(s->epoch_key ^ (s->p->edge_id[e] * 0xd1b54a32d192ed03ULL));
}

/* Random tail point q (1-based) of a sampling of edge e: a counter-based stream, so the draws do
 * not depend on which thread runs the edge or when. */
static inline umapc_idx negative_at(const sgd *s, uint64_t stream, int q) {
    return layout_negative(stream, q, (uint32_t)s->n_tail);
}

/* How many negative samples edge e draws this epoch; advances its schedule. */
static inline int take_negatives(const sgd *s, int64_t e) {
    const plan *p = s->p;
    int n_neg = (int)(((float)s->epoch - p->next_neg[e]) / p->eps_neg[e]);
    if (n_neg <= 0) {
        return 0;
    }
    p->next_neg[e] += (float)n_neg * p->eps_neg[e];
    return n_neg;
}

/* The pull of point j's sampled in-edges from e onwards: with before_self, only those whose source
 * precedes j (returning where they end), else all the rest. umap-learn moves an edge's tail when it
 * reaches the edge in head order, so a point feels the pulls of lower-numbered sources before its
 * own burst of out-edges and negatives and the others after it; keeping that order matters (all
 * after, or each folded into the point's own step, measurably changed the embeddings). */
static inline int64_t in_pulls(const sgd *s, size_t j, float *cur, size_t dim, int64_t e,
                               int before_self, float now) {
    const plan *p = s->p;
    for (; e < p->in_ptr[j + 1]; e++) {
        if (before_self && (size_t)p->in_idx[e] >= j) {
            break;
        }
        if (p->in_next[e] > now) {
            continue;
        }
        const float *other = s->others + (size_t)p->in_idx[e] * dim;
        pull(cur, other, attract_coeff(s, dist2(cur, other, dim)), s->alpha, dim);
        p->in_next[e] += p->in_eps[e];
    }
    return e;
}

/* The negative samples of one edge sampling are evaluated at the same position and their clipped
 * pushes added together: the same gradients and constants as umap-learn, but the samples no
 * longer wait for each other, which lets the core overlap their pow and division (the sequential
 * chain made the layout latency-bound, ~3x slower). */
static inline void negatives(const sgd *s, size_t j, int64_t e, float *cur, size_t dim) {
    int n_neg = take_negatives(s, e);
    uint64_t stream = edge_stream(s, e);
    for (int q0 = 0; q0 < n_neg; q0 += 8) {
        int batch = n_neg - q0 < 8 ? n_neg - q0 : 8;
        float coeff[8];
        const float *other[8];
        for (int q = 0; q < batch; q++) {
            size_t k = (size_t)negative_at(s, stream, q0 + q + 1);
            other[q] = s->others + k * dim;
            float d2 = dist2(cur, other[q], dim);
            /* umap-learn skips a point drawn as its own negative sample and coincident points */
            int skip = (s->move_other && k == j) || !(d2 > 0.0f);
            float c = 2.0f * s->gamma * s->b /
                      ((0.001f + d2) * (s->a * pow_b(d2 > 0.0f ? d2 : 1.0f, s->b) + 1.0f));
            coeff[q] = skip ? 0.0f : c;
        }
        for (size_t d = 0; d < dim; d++) {
            float step = 0.0f;
            for (int q = 0; q < batch; q++) {
                step += clip4(coeff[q] * (cur[d] - other[q][d]));
            }
            cur[d] += step * s->alpha;
        }
    }
}

/* One epoch of point j: its out-edges with their negative samples, then the pull of its sampled
 * in-edges. */
static inline void point_epoch(const sgd *s, size_t j, size_t dim) {
    const plan *p = s->p;
    float cur[16];
    memcpy(cur, s->self_in + j * dim, dim * sizeof *cur);
    float now = (float)s->epoch;
    int64_t in_split = s->move_other ? in_pulls(s, j, cur, dim, p->in_ptr[j], 1, now) : 0;
    for (int64_t e = p->out_ptr[j]; e < p->out_ptr[j + 1]; e++) {
        if (p->next[e] > now) {
            continue;
        }
        const float *other = s->others + (size_t)p->out_idx[e] * dim;
        pull(cur, other, attract_coeff(s, dist2(cur, other, dim)), s->alpha, dim);
        p->next[e] += p->eps[e];
        negatives(s, j, e, cur, dim);
    }
    if (s->move_other) {
        in_pulls(s, j, cur, dim, in_split, 0, now);
    }
    memcpy(s->self_out + j * dim, cur, dim * sizeof *cur);
}

/* The 2-D scalar kernel: the same gradients as the SIMD ones (layout_kernels.h). */
static void edge2_scalar(float *cur, const float *emb, const umapc_idx *idx, int n_attr, int n,
                         umapc_idx self, const layout_consts *c) {
    float sx = 0.0f, sy = 0.0f;
    for (int q = 0; q < n; q++) {
        const float *o = emb + 2 * (size_t)idx[q];
        float dx = cur[0] - o[0], dy = cur[1] - o[1];
        float d2 = dx * dx + dy * dy;
        int attr = q < n_attr;
        if (!(d2 > 0.0f) || (!attr && idx[q] == self)) {
            continue;
        }
        float d2c = d2 > 1e-30f ? d2 : 1e-30f;
        float pw = pow_b(d2c, c->b);
        float apw1 = c->a * pw + 1.0f;
        float coeff = attr ? c->attract * pw / (d2c * apw1) : c->repel / ((d2c + 0.001f) * apw1);
        sx += clip4(coeff * dx);
        sy += clip4(coeff * dy);
    }
    cur[0] += c->alpha * sx;
    cur[1] += c->alpha * sy;
}

/* Points in flight per thread in the 2-D loop. One point's edges form a long dependent chain
 * (gather, pow, division, clip, sum, move, next edge), so the core would mostly wait; the chains of
 * different points are independent and interleaving them lets it overlap their work. */
enum { IN_FLIGHT = 4, NEG_MAX = 63, BLOCK = 64 };

typedef struct walker {
    size_t j;
    int64_t e, end;
    int64_t in_split; /* first in-edge whose source comes after the point */
    int n_idx;        /* prepared kernel input: 0 = none, else attraction + negatives in idx */
    float cur[2];
    umapc_idx idx[NEG_MAX + 1];
} walker;

/* Applies all the negatives of edge e (and its attraction) at once: only for a very high
 * negative_sample_rate, where they do not fit one prepared batch. */
static void apply_many(const sgd *s, walker *w, int64_t e, int n_neg) {
    uint64_t stream = edge_stream(s, e);
    umapc_idx self = s->move_other ? (umapc_idx)w->j : -1;
    w->idx[0] = s->p->out_idx[e];
    for (int q = 0; q < n_neg;) {
        int batch = n_neg - q < NEG_MAX ? n_neg - q : NEG_MAX;
        for (int t = 1; t <= batch; t++) {
            w->idx[t] = negative_at(s, stream, q + t);
        }
        int first = q == 0;
        s->edge2(w->cur, s->others, w->idx + !first, first, batch + first, self, &s->k);
        q += batch;
    }
}

/* Finds the walker's next sampled out-edge, advances its schedule and writes the kernel input
 * (attraction, then negatives) for the next round: written one round ahead, the indices have
 * left the store buffer when the kernel loads them as a vector. */
static inline void walker_prepare(const sgd *s, walker *w, float now) {
    const plan *p = s->p;
    int64_t e = w->e;
    w->n_idx = 0;
    for (; e < w->end; e++) {
        if (p->next[e] > now) {
            continue;
        }
        p->next[e] += p->eps[e];
        int n_neg = take_negatives(s, e);
        if (n_neg > NEG_MAX) {
            apply_many(s, w, e, n_neg);
            continue;
        }
        uint64_t stream = edge_stream(s, e);
        w->idx[0] = p->out_idx[e];
        for (int t = 1; t <= n_neg; t++) {
            w->idx[t] = negative_at(s, stream, t);
        }
        w->n_idx = n_neg + 1;
        break;
    }
    w->e = e + 1;
}

static inline void walker_start(const sgd *s, walker *w, size_t j, float now) {
    w->j = j;
    w->e = s->p->out_ptr[j];
    w->end = s->p->out_ptr[j + 1];
    w->cur[0] = s->self_in[2 * j];
    w->cur[1] = s->self_in[2 * j + 1];
    w->in_split = s->move_other ? in_pulls(s, j, w->cur, 2, s->p->in_ptr[j], 1, now) : 0;
    walker_prepare(s, w, now);
}

/* Applies the prepared edge (its attraction and negatives, evaluated at the same position) and
 * prepares the next. Returns 0 when the point has no edge left this epoch. */
static inline int walker_step(const sgd *s, walker *w, float now) {
    if (w->n_idx == 0) {
        return 0;
    }
    umapc_idx self = s->move_other ? (umapc_idx)w->j : -1;
    s->edge2(w->cur, s->others, w->idx, 1, w->n_idx, self, &s->k);
    walker_prepare(s, w, now);
    return 1;
}

/* The pull of the sampled in-edges (asymmetric graphs only), then the point's new position. */
static inline void walker_finish(const sgd *s, walker *w, float now) {
    size_t j = w->j;
    if (s->move_other) {
        in_pulls(s, j, w->cur, 2, w->in_split, 0, now);
    }
    s->self_out[2 * j] = w->cur[0];
    s->self_out[2 * j + 1] = w->cur[1];
}

/* One epoch of the 2-D points lo .. hi-1, IN_FLIGHT at a time, edges taken round-robin. Each
 * point's result depends only on its own edges, so the interleaving changes nothing but speed. */
static void block_epoch2(const sgd *s, size_t lo, size_t hi) {
    walker w[IN_FLIGHT];
    float now = (float)s->epoch;
    int live = 0;
    size_t next = lo;
    while (live < IN_FLIGHT && next < hi) {
        walker_start(s, &w[live++], next++, now);
    }
    while (live > 0) {
        for (int i = 0; i < live;) {
            if (walker_step(s, &w[i], now)) {
                i++;
                continue;
            }
            walker_finish(s, &w[i], now);
            if (next < hi) {
                walker_start(s, &w[i++], next++, now);
            } else {
                w[i] = w[--live];
            }
        }
    }
}

/* The ops of one block of 2-D points for the lane-per-point kernel (layout_kernels.h). */
typedef struct ops_buf {
    umapc_idx *other;
    int32_t *n_neg;
    uint64_t *stream;
    int32_t *beg;
} ops_buf;

/* Points per block: large blocks keep the 16 lanes full (a block's last points leave lanes idle),
 * but at least ~8 blocks per thread keep the threads' shares even. */
enum { LANE_BLOCK_MIN = 256, LANE_BLOCK_MAX = 1024 };

static size_t lane_block(size_t n, int n_threads) {
    size_t b = n / (8 * (size_t)n_threads);
    return b < LANE_BLOCK_MIN ? LANE_BLOCK_MIN : (b > LANE_BLOCK_MAX ? LANE_BLOCK_MAX : b);
}

static void ops_buf_free(ops_buf *b) {
    free(b->other);
    free(b->n_neg);
    free(b->stream);
    free(b->beg);
}

static int ops_buf_alloc(ops_buf *b, size_t cap) {
    cap += LAYOUT_OPS_SLACK;
    b->other = malloc(cap * sizeof *b->other);
    b->n_neg = malloc(cap * sizeof *b->n_neg);
    b->stream = malloc(cap * sizeof *b->stream);
    b->beg = malloc((LANE_BLOCK_MAX + 1) * sizeof *b->beg);
    return b->other && b->n_neg && b->stream && b->beg ? 0 : -1;
}

/* Ops of the largest block: one per in-edge and one per out-edge. */
static size_t ops_capacity(const plan *p, int move_other, size_t block) {
    size_t best = 0;
    for (size_t lo = 0; lo < p->n_head; lo += block) {
        size_t hi = lo + block < p->n_head ? lo + block : p->n_head;
        size_t ops = (size_t)(p->out_ptr[hi] - p->out_ptr[lo]);
        ops += move_other ? (size_t)(p->in_ptr[hi] - p->in_ptr[lo]) : 0;
        best = ops > best ? ops : best;
    }
    return best;
}

static void block_epoch_lanes(const sgd *s, ops_buf *b, size_t lo, size_t hi) {
    const plan *p = s->p;
    layout_sched sc = {.out_ptr = p->out_ptr,
                       .out_idx = p->out_idx,
                       .eps = p->eps,
                       .eps_neg = p->eps_neg,
                       .next = p->next,
                       .next_neg = p->next_neg,
                       .edge_id = p->edge_id,
                       .in_ptr = p->in_ptr,
                       .in_idx = p->in_idx,
                       .in_eps = p->in_eps,
                       .in_next = p->in_next,
                       .epoch_key = s->epoch_key,
                       .now = (float)s->epoch,
                       .move_other = s->move_other,
                       .symmetric = s->move_other && p->symmetric};
    umapc_layout_ops_avx512(&sc, lo, hi, b->other, b->n_neg, b->stream, b->beg);
    layout_block blk = {.other = b->other,
                        .n_neg = b->n_neg,
                        .stream = b->stream,
                        .beg = b->beg,
                        .lo = (int32_t)lo,
                        .n = (int32_t)(hi - lo),
                        .n_tail = (uint32_t)s->n_tail,
                        .self_in = s->self_in,
                        .self_out = s->self_out,
                        .emb = s->others,
                        .move_other = s->move_other};
    umapc_layout_block2_avx512(&blk, &s->k);
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#define LAYOUT_EDGES_PER_THREAD 50000

static void run_epoch(const sgd *s, size_t dim, int n_threads) {
    size_t n = s->p->n_head;
    if (dim == 2 && s->lanes2) {
        size_t blk = s->lane_block, n_blocks = (n + blk - 1) / blk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (size_t bk = 0; bk < n_blocks; bk++) {
            size_t lo = bk * blk, hi = lo + blk < n ? lo + blk : n;
            block_epoch_lanes(s, &s->bufs[thread_id()], lo, hi);
        }
    } else if (dim == 2) {
        size_t n_blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (size_t bk = 0; bk < n_blocks; bk++) {
            block_epoch2(s, bk * BLOCK, bk * BLOCK + BLOCK < n ? bk * BLOCK + BLOCK : n);
        }
    } else {
#pragma omp parallel for schedule(dynamic, 64) num_threads(n_threads)
        for (size_t j = 0; j < n; j++) {
            point_epoch(s, j, dim);
        }
    }
}

/* The AVX2 kernel of the edge-by-edge path on any x86 CPU that has it (AVX-512 CPUs take the
 * lane-per-point path instead, see setup_lanes). */
static layout_edge2_fn pick_edge2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return umapc_layout_edge2_avx2;
    }
#endif
    return edge2_scalar;
}

static int has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* Per-thread op buffers for the lane-per-point kernel, or none (s->lanes2 = 0) where the CPU
 * lacks AVX-512 or the layout is not 2-D. */
static int setup_lanes(sgd *s, size_t dim, int n_threads) {
    s->lanes2 = 0;
    s->bufs = NULL;
    if (dim != 2 || !has_avx512()) {
        return 0;
    }
    s->lane_block = lane_block(s->p->n_head, n_threads);
    size_t cap = ops_capacity(s->p, s->move_other, s->lane_block);
    s->bufs = calloc((size_t)n_threads, sizeof *s->bufs);
    if (s->bufs == NULL) {
        return -1;
    }
    for (int t = 0; t < n_threads; t++) {
        if (ops_buf_alloc(&s->bufs[t], cap) != 0) {
            return -1;
        }
    }
    s->lanes2 = 1;
    return 0;
}

static void free_lanes(sgd *s, int n_threads) {
    for (int t = 0; s->bufs != NULL && t < n_threads; t++) {
        ops_buf_free(&s->bufs[t]);
    }
    free(s->bufs);
    s->bufs = NULL;
}

static umapc_status check_layout_args(const float *head, size_t n_head, const float *tail,
                                      size_t n_tail, size_t dim, const umapc_graph *graph,
                                      const umapc_layout_options *o, umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (head == NULL || n_head == 0 || dim == 0 || dim > 16) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: need a non-empty head embedding with 1..16 columns");
    }
    size_t cols = tail ? n_tail : n_head;
    if (graph->n_rows != n_head || graph->n_cols != cols) {
        return umapc_fail(
            err, UMAPC_ERR_INVALID_ARGUMENT,
            "optimize_layout: graph is %zu x %zu but embeddings have %zu and %zu rows",
            graph->n_rows, graph->n_cols, n_head, cols);
    }
    if (o->n_epochs < 0 || !(o->a > 0.0) || !(o->b > 0.0) || !(o->learning_rate >= 0.0) ||
        !(o->repulsion_strength >= 0.0) || !(o->negative_sample_rate > 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_layout: need n_epochs >= 0, a > 0, b > 0, learning_rate >= 0, "
                          "repulsion_strength >= 0 and negative_sample_rate > 0");
    }
    return UMAPC_OK;
}

/* With move_other every point also applies the pull of its in-edges, each on its own schedule
 * (umap-learn moves an edge's tail when it samples the edge). Folding a symmetric graph's twin
 * pull into the head's own step (one evaluation instead of two) was measured to double the step at
 * one position, overshoot while the learning rate is high and split clusters, so it is not done. */
static umapc_status build_plan(plan *p, const umapc_graph *graph, int n_epochs, double neg_rate,
                               int move_other, umapc_error *err) {
    memset(p, 0, sizeof *p);
    int bad = plan_out_edges(p, graph, n_epochs, neg_rate) != 0;
    if (!bad && move_other) {
        bad = plan_in_edges(p) != 0;
    }
    if (bad) {
        plan_free(p);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
    }
    return UMAPC_OK;
}

/* Threads that pay for themselves: every epoch ends in a barrier, and on a busy machine a thread
 * spinning there while its partner waits for a core costs more than a small epoch's work. Results
 * do not depend on the count, so capping it is safe. */
static int threads_for_edges(int requested, size_t n_edges) {
    size_t useful = 1 + n_edges / LAYOUT_EDGES_PER_THREAD;
    return useful < (size_t)requested ? (int)useful : requested;
}

static umapc_status run_epochs(plan *p, float *head, size_t n_head, const float *tail,
                               size_t n_tail, size_t dim, const umapc_layout_options *o,
                               int n_epochs, const umapc_progress *progress, umapc_error *err) {
    int n_threads =
        threads_for_edges(umapc_resolve_threads(o->n_threads), (size_t)p->out_ptr[n_head]);
    int deterministic = o->seed >= 0;
    int fit = tail == NULL;
    float *spare = NULL;
    if (deterministic && fit) {
        spare = umapc_aligned_alloc(umapc_mul_size(n_head, dim), sizeof *spare);
        if (spare == NULL) {
            return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
        }
    }
    sgd s = {.p = p,
             .n_tail = fit ? n_head : n_tail,
             .move_other = fit,
             .a = (float)o->a,
             .b = (float)o->b,
             .gamma = (float)o->repulsion_strength,
             .alpha = (float)o->learning_rate,
             .seed = deterministic ? (uint64_t)o->seed : 0x5eed5eedULL};
    s.edge2 = pick_edge2();
    s.k = (layout_consts){
        .a = s.a, .b = s.b, .attract = -2.0f * s.a * s.b, .repel = 2.0f * s.gamma * s.b};
    if (setup_lanes(&s, dim, n_threads) != 0) {
        free_lanes(&s, n_threads);
        umapc_aligned_free(spare);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_layout: out of memory");
    }
    float *cur = head, *other_buf = spare;
    umapc_status st = UMAPC_OK;
    for (int epoch = 0; epoch < n_epochs && !st; epoch++) {
        s.epoch = epoch;
        s.epoch_key = umapc_rand_at(s.seed, (uint64_t)epoch, 0);
        s.k.alpha = s.alpha;
        s.self_in = cur;
        s.self_out = spare ? other_buf : cur;
        s.others = fit ? cur : tail;
        run_epoch(&s, dim, n_threads);
        if (spare) {
            float *t = cur;
            cur = other_buf;
            other_buf = t;
        }
        s.alpha = (float)(o->learning_rate * (1.0 - (double)epoch / (double)n_epochs));
        if (umapc_progress_report(progress, "optimize layout", (size_t)epoch + 1,
                                  (size_t)n_epochs)) {
            st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
        }
    }
    if (cur != head) {
        memcpy(head, cur, umapc_mul_size(n_head, dim) * sizeof *head);
    }
    free_lanes(&s, n_threads);
    umapc_aligned_free(spare);
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
    plan p;
    st = build_plan(&p, graph, n_epochs, opts->negative_sample_rate, tail == NULL, err);
    if (st) {
        return st;
    }
    st = run_epochs(&p, head, n_head, tail, n_tail, dim, opts, n_epochs, progress, err);
    plan_free(&p);
    return st;
}
