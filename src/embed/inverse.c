/* inverse_transform: umap-learn's optimize_layout_inverse for new low-dimensional points, each
 * moved on its own in data space (the training data stays fixed), so points run in parallel
 * and the result does not depend on the thread count. */
#include "cpu.h"
#include "internal.h"
#include "metric.h"
#include "metric_grad.h"
#include "parallel.h"
#include "umapc/exact.h"
#include "umapc/inverse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void umapc_inverse_options_init(umapc_inverse_options *opts) {
    opts->n_neighbors = 0;
    opts->n_epochs = 0;
    opts->a = 1.576943460405378;
    opts->b = 0.8950608781227859;
    opts->repulsion_strength = 1.0;
    opts->learning_rate = 0.25;
    opts->negative_sample_rate = 5.0;
    opts->seed = 0;
    opts->n_threads = 0;
}

int umapc_inverse_supports(const umapc_metric *metric) {
    switch (metric != NULL ? metric->kind : UMAPC_METRIC_COUNT_) {
    case UMAPC_METRIC_EUCLIDEAN:
    case UMAPC_METRIC_MANHATTAN:
    case UMAPC_METRIC_CHEBYSHEV:
    case UMAPC_METRIC_MINKOWSKI:
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
    case UMAPC_METRIC_HELLINGER:
    case UMAPC_METRIC_CANBERRA:
    case UMAPC_METRIC_BRAYCURTIS:
        return 1;
    default:
        return 0;
    }
}

/* The gradient of a data metric umapc_inverse_supports accepts. */
static metric_grad_kind grad_kind_of(umapc_metric_kind kind) {
    switch (kind) {
    case UMAPC_METRIC_MANHATTAN:
        return GRAD_MANHATTAN;
    case UMAPC_METRIC_CHEBYSHEV:
        return GRAD_CHEBYSHEV;
    case UMAPC_METRIC_MINKOWSKI:
        return GRAD_MINKOWSKI;
    case UMAPC_METRIC_CORRELATION:
        return GRAD_CORRELATION;
    case UMAPC_METRIC_HELLINGER:
        return GRAD_HELLINGER;
    case UMAPC_METRIC_CANBERRA:
        return GRAD_CANBERRA;
    case UMAPC_METRIC_BRAYCURTIS:
        return GRAD_BRAYCURTIS;
    case UMAPC_METRIC_COSINE:
        return GRAD_COSINE;
    default:
        return GRAD_EUCLIDEAN;
    }
}

/* The data metric's distance from x to y and the direction of its gradient in x (umap-learn's
 * *_grad). Euclidean's and cosine's gradients are sx * x - sy * y, so the move reads them off two
 * scalars in the SIMD pass that applies it (a thousand 784-d points evaluate some 10^8 of these);
 * the others fill grad and set *sx to NAN. known_sq: euclidean's squared distance when the last
 * move measured it (else NAN). */
static float inverse_grad(const simd_kernels *kern, const umapc_metric *metric, const float *x,
                          const float *y, size_t dim, float known_sq, float *grad, float *sx,
                          float *sy) {
    *sx = *sy = NAN;
    switch (metric->kind) {
    case UMAPC_METRIC_EUCLIDEAN: {
        float sq = isnan(known_sq) ? kern->sqeuclidean(x, y, dim) : known_sq;
        float dist = sqrtf(fmaxf(sq, 0.0f));
        *sx = *sy = 1.0f / (1e-6f + dist);
        return dist;
    }
    case UMAPC_METRIC_COSINE: {
        double xy = kern->dot(x, y, dim), nx = kern->dot(x, x, dim), ny = kern->dot(y, y, dim);
        if (nx == 0.0 || ny == 0.0) {
            *sx = *sy = 0.0f;
            return nx == 0.0 && ny == 0.0 ? 0.0f : 1.0f;
        }
        double rx = sqrt(nx), ry = sqrt(ny);
        *sx = (float)(xy / (nx * rx * ry));
        *sy = (float)(1.0 / (rx * ry));
        return (float)(1.0 - xy / (rx * ry));
    }
    default: {
        metric_grad_params prm = {metric->p, metric->params, metric->n_params};
        return metric_grad(grad_kind_of(metric->kind), &prm, x, y, dim, grad);
    }
    }
}

/* Below the clip at 4 with a margin for the rounding of the distance. */
#define INVERSE_NO_CLIP 3.99f

static float clip4(float v) {
    return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v);
}

/* x += alpha clip(coeff * gradient), the gradient as inverse_grad gave it. For euclidean with the
 * row of the next step known, the same pass measures the moved x's squared distance to it
 * (returned; NAN when not measured). */
static float move_x(const simd_kernels *kern, umapc_metric_kind kind, float *x, const float *y,
                    size_t dim, const float *grad, float sx, float sy, float coeff, float alpha,
                    const float *next) {
    if (kind == UMAPC_METRIC_EUCLIDEAN) {
        /* Each coordinate of euclidean's move is coeff (x - y) / (dist + 1e-6), at most |coeff|
         * in size: below the clip (most negative samples, whose coefficient is small), the step
         * needs no clipping and half the operations. */
        if (fabsf(coeff) <= INVERSE_NO_CLIP) {
            return kern->move_sqeuclidean(x, y, dim, alpha * coeff * sx, next);
        }
        if (next != NULL) {
            return kern->move_clipped_sqeuclidean(x, y, dim, sx, sy, coeff, alpha, next);
        }
    }
    if (!isnan(sx)) {
        kern->move_clipped(x, y, dim, sx, sy, coeff, alpha);
        return NAN;
    }
    for (size_t d = 0; d < dim; d++) {
        x[d] += clip4(coeff * grad[d]) * alpha;
    }
    return NAN;
}

typedef struct inverse_job {
    const simd_kernels *kern;
    const float *data, *sigmas, *rhos;
    size_t n_train, dim, k;
    const umapc_metric *metric;
    const umapc_inverse_options *opts;
    int n_epochs;
    float wmax;
    const umapc_idx *nb;
    const float *w;
    float *out;
} inverse_job;

/* umap-learn draws each negative sample uniformly from all the training rows: a few thousand
 * rows of data space per point and epoch, nearly every one a miss in every cache, which made the
 * step memory-bound (one 784-d row is 3 KB). Here an epoch of one point draws its negatives
 * uniformly from a pool of INVERSE_POOL rows, itself drawn uniformly for that point: each negative
 * is still a uniform training row, and the pool stays in the core's L2 cache. A pool row lives
 * INVERSE_POOL_LIFE epochs, the slots staggered so that 1/INVERSE_POOL_LIFE of the pool is new in
 * each epoch: a pool drawn anew every epoch cost a miss to memory for most of its rows (the
 * transform ran 10% faster with rows living 8 epochs). */
#define INVERSE_POOL        256
#define INVERSE_POOL_LIFE   8
#define INVERSE_POOL_STREAM 0x706f6f6c00000000ULL

/* The training row of negative sample q of edge e in an epoch: a pure function of the seed, so
 * the next one can be fetched from memory while this one is applied. */
static size_t negative_at(const inverse_job *job, uint64_t key, int epoch, size_t e, int q) {
    uint64_t r = umapc_rand_at(key, (uint64_t)epoch * job->k + e, (uint64_t)q);
    uint64_t slot = ((r >> 32) * (uint64_t)INVERSE_POOL) >> 32;
    uint64_t life = INVERSE_POOL_LIFE, generation = ((uint64_t)epoch + slot % life) / life;
    uint64_t row = umapc_rand_at(key, INVERSE_POOL_STREAM + generation, slot);
    return (size_t)(((row >> 32) * (uint64_t)job->n_train) >> 32);
}

/* A pool row is a cache miss the first time an epoch touches it; the hardware prefetcher follows
 * the rest of a row once its first lines are asked for. */
#define INVERSE_PREFETCH_LINES 2
static void prefetch_row(const float *row, size_t dim) {
    size_t bytes = dim * sizeof *row, lines = (bytes + 63) / 64;
    for (size_t l = 0; l < lines && l < INVERSE_PREFETCH_LINES; l++) {
        __builtin_prefetch((const char *)row + 64 * l);
    }
}

/* One negative step away from training row t; returns move_x's measure of the next row. */
static float push_away(const inverse_job *job, float *x, float *grad, size_t t, float known_sq,
                       float alpha, const float *next) {
    size_t dim = job->dim;
    const float *yt = job->data + t * dim;
    float sx, sy, dist = inverse_grad(job->kern, job->metric, x, yt, dim, known_sq, grad, &sx, &sy);
    float sigma = job->sigmas[t];
    double gap = dist - job->rhos[t] > 1e-6 ? dist - job->rhos[t] : 1e-6;
    float w_h = expf((float)(-gap / (sigma + 1e-6)));
    float neg =
        (float)(-job->opts->repulsion_strength * ((0.0f - w_h) / ((1.0f - w_h) * sigma + 1e-6f)));
    return move_x(job->kern, job->metric->kind, x, yt, dim, grad, sx, sy, neg, alpha, next);
}

/* The first edge from e on that fires in this epoch (k when none). */
static size_t next_firing(const inverse_job *job, const umapc_idx *nb, const float *next, int epoch,
                          size_t e) {
    while (e < job->k && (!(next[e] <= (float)epoch) || nb[e] < 0)) {
        e++;
    }
    return e;
}

/* The attractions' rows are the point's k neighbours (as many as the data has dimensions: 784
 * rows, 2.4 MB, for Fashion-MNIST), more than the L2 cache holds beside the negatives' pool: the
 * next attraction's row is fetched whole while this edge's samples are applied. */
static void prefetch_whole_row(const float *row, size_t dim) {
    for (size_t b = 0; b < dim * sizeof *row; b += 64) {
        __builtin_prefetch((const char *)row + b);
    }
}

/* Moves x (one new point, its k neighbours nb with memberships w) through every epoch. Each move
 * measures x's squared distance to the row of the sample after it (known_sq), so euclidean takes
 * one pass over the data per sample. */
static void inverse_point(const inverse_job *job, size_t point, const umapc_idx *nb, const float *w,
                          float *x, float *grad, float *sched) {
    size_t k = job->k, dim = job->dim;
    const umapc_inverse_options *o = job->opts;
    float *eps = sched, *next = sched + k, *eps_neg = sched + 2 * k, *next_neg = sched + 3 * k;
    for (size_t e = 0; e < k; e++) {
        /* make_epochs_per_sample: an edge of weight w every wmax / w epochs */
        eps[e] = w[e] > 0.0f ? (float)job->n_epochs / ((float)job->n_epochs * (w[e] / job->wmax))
                             : INFINITY;
        next[e] = eps[e];
        eps_neg[e] = (float)(eps[e] / o->negative_sample_rate);
        next_neg[e] = eps_neg[e];
    }
    uint64_t key = umapc_hash64((uint64_t)o->seed ^ (point * 0x9e3779b97f4a7c15ULL));
    for (int epoch = 0; epoch < job->n_epochs; epoch++) {
        float alpha = (float)(o->learning_rate * (1.0 - (double)epoch / job->n_epochs));
        float known_sq = NAN; /* x's squared distance to the attraction's row, once measured */
        for (size_t e = next_firing(job, nb, next, epoch, 0); e < k;) {
            size_t e_after = next_firing(job, nb, next, epoch, e + 1);
            const float *y_after = e_after < k ? job->data + (size_t)nb[e_after] * dim : NULL;
            if (y_after != NULL) {
                prefetch_whole_row(y_after, dim);
            }
            int n_neg =
                o->negative_sample_rate > 0.0 ? (int)((epoch - next_neg[e]) / eps_neg[e]) : 0;
            size_t t = n_neg > 0 ? negative_at(job, key, epoch, e, 0) : 0;
            if (n_neg > 0) {
                prefetch_row(job->data + t * dim, dim);
            }
            const float *y = job->data + (size_t)nb[e] * dim;
            float sx, sy; /* the attraction's coefficient does not depend on the distance */
            inverse_grad(job->kern, job->metric, x, y, dim, known_sq, grad, &sx, &sy);
            float coeff = -(1.0f / (w[e] * job->sigmas[nb[e]] + 1e-6f));
            known_sq = move_x(job->kern, job->metric->kind, x, y, dim, grad, sx, sy, coeff, alpha,
                              n_neg > 0 ? job->data + t * dim : y_after);
            next[e] += eps[e];
            for (int q = 0; q < n_neg; q++) {
                size_t after = q + 1 < n_neg ? negative_at(job, key, epoch, e, q + 1) : 0;
                if (q + 1 < n_neg) {
                    prefetch_row(job->data + after * dim, dim);
                }
                known_sq = push_away(job, x, grad, t, known_sq, alpha,
                                     q + 1 < n_neg ? job->data + after * dim : y_after);
                t = after;
            }
            next_neg[e] += (float)n_neg * eps_neg[e];
            e = e_after;
        }
    }
}

/* The start: the membership-weighted mean of the neighbours (weights summing to 1). */
static void start_point(const inverse_job *job, const umapc_idx *nb, const float *w, float *x) {
    size_t dim = job->dim;
    double total = 0.0;
    for (size_t e = 0; e < job->k; e++) {
        total += w[e];
    }
    memset(x, 0, dim * sizeof *x);
    for (size_t e = 0; e < job->k && total > 0.0; e++) {
        const float *y = job->data + (size_t)nb[e] * dim;
        for (size_t d = 0; d < dim; d++) {
            x[d] += (float)(w[e] / total) * y[d];
        }
    }
}

static int inverse_run(void *ctx, void *scratch, size_t lo, size_t hi) {
    const inverse_job *job = ctx;
    float *grad = scratch; /* dim floats, then the k-edge schedule */
    /* Coordinates that the attractions pull towards a training row's zero decay geometrically
     * into denormals (Fashion-MNIST's blank border pixels): flushed, the transform ran 1.5x
     * faster on an Intel Xeon, with no change above float resolution. */
    umapc_fp_mode fp = umapc_cpu_flush_denormals();
    for (size_t i = lo; i < hi; i++) {
        const umapc_idx *ni = job->nb + i * job->k;
        const float *wi = job->w + i * job->k;
        float *x = job->out + i * job->dim;
        start_point(job, ni, wi, x);
        inverse_point(job, i, ni, wi, x, grad, grad + job->dim);
    }
    umapc_cpu_restore_fp(fp);
    return 0;
}

static umapc_status check_inverse_args(const float *embedding, const float *data,
                                       const float *sigmas, const float *rhos, size_t n_train,
                                       size_t n_components, size_t dim, const umapc_metric *metric,
                                       const float *points, const float *out,
                                       const umapc_inverse_options *o, umapc_error *err) {
    if (embedding == NULL || data == NULL || sigmas == NULL || rhos == NULL || points == NULL ||
        out == NULL || n_train == 0 || n_components == 0 || dim == 0 || n_train > INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "inverse_transform: need a fitted embedding, its data and the points");
    }
    if (!umapc_inverse_supports(metric)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "Inverse transform not available for given metric.");
    }
    if (o->n_neighbors > n_train || o->n_epochs < 0 || !(o->a > 0.0) || !(o->b > 0.0) ||
        !(o->learning_rate >= 0.0) || !(o->negative_sample_rate >= 0.0) ||
        !(o->repulsion_strength >= 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "inverse_transform: need n_neighbors <= the training points and "
                          "non-negative rates");
    }
    return UMAPC_OK;
}

umapc_status umapc_inverse_transform(const float *embedding, const float *data, const float *sigmas,
                                     const float *rhos, size_t n_train, size_t n_components,
                                     size_t dim, const umapc_metric *metric, const float *points,
                                     size_t n_points, const umapc_inverse_options *opts,
                                     const umapc_progress *progress, float *out, umapc_error *err) {
    umapc_inverse_options defaults;
    if (opts == NULL) {
        umapc_inverse_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status st = check_inverse_args(embedding, data, sigmas, rhos, n_train, n_components, dim,
                                         metric, points, out, opts, err);
    if (st || n_points == 0) {
        return st;
    }
    size_t k = opts->n_neighbors ? opts->n_neighbors : (dim < n_train ? dim : n_train);
    umapc_idx *nb = malloc(umapc_mul_size(n_points, k) * sizeof *nb);
    float *w = malloc(umapc_mul_size(n_points, k) * sizeof *w);
    if (nb == NULL || w == NULL) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "inverse_transform: out of memory");
    }
    umapc_metric l2 = {.kind = UMAPC_METRIC_EUCLIDEAN, .p = 2.0};
    umapc_exact_options eo;
    umapc_exact_options_init(&eo);
    eo.n_threads = opts->n_threads;
    if (!st) {
        st = umapc_exact_search(&l2, embedding, n_train, n_components, points, n_points, k, NULL,
                                &eo, progress, nb, w, err);
    }
    float wmax = 0.0f;
    for (size_t i = 0; !st && i < n_points * k; i++) {
        w[i] = (float)(1.0 / (1.0 + opts->a * pow(w[i], 2.0 * opts->b)));
        wmax = w[i] > wmax ? w[i] : wmax;
    }
    inverse_job job = {simd_kernels_select(),
                       data,
                       sigmas,
                       rhos,
                       n_train,
                       dim,
                       k,
                       metric,
                       opts,
                       opts->n_epochs ? opts->n_epochs : (n_points <= 10000 ? 100 : 30),
                       wmax,
                       nb,
                       w,
                       out};
    umapc_parallel_loop loop = {.n_items = n_points,
                                .chunk = 1,
                                .n_threads = umapc_resolve_threads(opts->n_threads),
                                .progress = progress,
                                .stage = "inverse_transform",
                                .report_every = 1,
                                .ctx = &job,
                                .scratch_size = umapc_mul_size(dim + 4 * k, sizeof(float)),
                                .body = inverse_run};
    if (!st) {
        st = umapc_parallel_for(&loop, err);
    }
    free(nb);
    free(w);
    return st;
}
