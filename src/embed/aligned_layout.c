/* The aligned layout (umap-learn's AlignedUMAP): every slice's ordinary layout, driven an epoch at
 * a time (layout_internal.h), and after each epoch the alignment step that pulls each point toward
 * the points related to it in the slices around it (umapc/aligned_layout.h has the formula).
 *
 * umap-learn adds the pull to every gradient of the point in its sampling loop: once per sampled
 * edge at each end, once more per negative sample. Here the pull is one step per epoch, after the
 * slices' epochs, worth as many of those moves in a row as the point gets per epoch on average,
 * so that a strong pull (many samples, a large lambda) lands on the related points' weighted mean
 * instead of overshooting it. Being a separate step, it leaves the slices'
 * epochs as umapc_optimize_layout runs them: the same schedule and executors, and the result
 * independent of the thread count (the step reads the positions of the start of the step). */
#include "internal.h"
#include "layout_internal.h"
#include "parallel.h"
#include "umapc/aligned_layout.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The stream of the slices' layout seeds. */
#define ALIGNED_SEED_STREAM 0x616c69676e6564ULL

void umapc_aligned_options_init(umapc_aligned_options *opts) {
    umapc_layout_options_init(&opts->layout);
    opts->regularisation = 1e-2;
    opts->window_size = 3;
}

/* Per point of every slice (slice m's points from offset[m]) and per slot of the window (offsets
 * -w .. -1, then 1 .. w): the related point there (-1: none) and its pull c_o; per point of a
 * moving slice the moves per epoch umap-learn pulls it at. */
typedef struct aligned {
    const umapc_aligned_slice *slices;
    size_t n_slices, dim, n_slots;
    int window;
    size_t *offset;
    int32_t *rel;
    float *coef;
    float *samples;
    float *snap;       /* every point where the step found it, in the caller's order */
    layout_fit **fits; /* per moving slice, else NULL */
    int n_threads;
} aligned;

static int slot_offset(const aligned *a, size_t slot) {
    int s = (int)slot;
    return s < a->window ? s - a->window : s - a->window + 1;
}

static void aligned_free(aligned *a) {
    free(a->offset);
    free(a->rel);
    free(a->coef);
    free(a->samples);
    free(a->snap);
    if (a->fits != NULL) {
        for (size_t m = 0; m < a->n_slices; m++) {
            layout_close(a->fits[m]);
        }
    }
    free(a->fits);
}

static umapc_status check_aligned_args(const umapc_aligned_slice *slices, size_t n_slices,
                                       size_t dim, const umapc_idx *const *relations,
                                       const umapc_aligned_options *o, umapc_error *err) {
    if (slices == NULL || n_slices == 0 || dim == 0 || (n_slices > 1 && relations == NULL)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_aligned: need at least one slice, dim >= 1 and the relations "
                          "between consecutive slices");
    }
    if (!(o->regularisation >= 0.0) || !(o->regularisation <= FLT_MAX) || o->window_size < 0 ||
        o->layout.n_epochs < 0 || o->layout.densmap ||
        o->layout.output_metric != UMAPC_OUTPUT_EUCLIDEAN || o->layout.n_snapshots != 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_aligned: need a finite regularisation >= 0, window_size >= 0, "
                          "n_epochs >= 0, no densMAP, the euclidean output metric and no "
                          "snapshots");
    }
    size_t total = 0;
    for (size_t m = 0; m < n_slices; m++) {
        const umapc_aligned_slice *s = &slices[m];
        if (s->embedding == NULL || s->n == 0 || s->graph == NULL || s->n > INT32_MAX) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "optimize_aligned: slice %zu has no embedding, no points or no graph",
                              m);
        }
        umapc_status st = umapc_graph_validate(s->graph, err);
        if (st) {
            return st;
        }
        if (s->graph->n_rows != s->n || s->graph->n_cols != s->n) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "optimize_aligned: slice %zu has %zu points but a %zu x %zu graph", m,
                              s->n, s->graph->n_rows, s->graph->n_cols);
        }
        total += s->n;
    }
    if (total > INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "optimize_aligned: more than 2^31 - 1 points in all");
    }
    for (size_t i = 0; i + 1 < n_slices; i++) {
        if (relations[i] == NULL) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "optimize_aligned: no relations between slices %zu and %zu", i,
                              i + 1);
        }
        for (size_t p = 0; p < slices[i].n; p++) {
            umapc_idx q = relations[i][p];
            if (q < -1 || (q >= 0 && (size_t)q >= slices[i + 1].n)) {
                return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                                  "optimize_aligned: relations[%zu][%zu] = %d is not a point of "
                                  "slice %zu (%zu points) or -1",
                                  i, p, (int)q, i + 1, slices[i + 1].n);
            }
        }
    }
    return UMAPC_OK;
}

/* The relations of every slot: chains of relations[] forwards, of their inverses backwards. */
static int expand_relations(aligned *a, const umapc_idx *const *relations) {
    size_t S = a->n_slices, W = a->n_slots;
    /* back[offset[i + 1] + q]: the point of slice i related to point q of slice i + 1 */
    int32_t *back = malloc(umapc_mul_size(a->offset[S], sizeof *back));
    if (back == NULL) {
        return -1;
    }
    for (size_t i = 0; i < a->offset[S]; i++) {
        back[i] = -1;
    }
    for (size_t i = 0; i + 1 < S; i++) {
        for (size_t p = 0; p < a->slices[i].n; p++) {
            if (relations[i][p] >= 0) {
                back[a->offset[i + 1] + (size_t)relations[i][p]] = (int32_t)p;
            }
        }
    }
    int w = a->window;
    for (size_t m = 0; m < S; m++) {
        for (size_t p = 0; p < a->slices[m].n; p++) {
            int32_t *r = a->rel + (a->offset[m] + p) * W;
            /* slot w - 1 is offset -1, slot w offset +1; each step goes one slice further */
            int32_t fwd = (int32_t)p, bwd = (int32_t)p;
            for (int k = 1; k <= w; k++) {
                size_t to = m + (size_t)k;
                fwd = fwd >= 0 && to < S ? relations[to - 1][fwd] : -1;
                r[w + k - 1] = fwd;
                bwd = bwd >= 0 && (size_t)k <= m ? back[a->offset[m - (size_t)k + 1] + (size_t)bwd]
                                                 : -1;
                r[w - k] = bwd;
            }
        }
    }
    free(back);
    return 0;
}

/* The moves of each point per epoch that umap-learn adds the pull to, on average: per edge the
 * layout samples (weight >= max / n_epochs, as layout.c prunes), w / max samples per epoch, each
 * with 1 + negative_sample_rate moves of its head and one of its tail. */
static void sample_counts(const umapc_graph *g, int n_epochs, double neg_rate, float *count) {
    float wmax = 0.0f;
    for (size_t e = 0; e < g->nnz; e++) {
        wmax = g->data[e] > wmax ? g->data[e] : wmax;
    }
    float cut = wmax / (float)n_epochs;
    memset(count, 0, g->n_rows * sizeof *count);
    for (size_t r = 0; r < g->n_rows; r++) {
        for (int64_t e = g->indptr[r]; e < g->indptr[r + 1]; e++) {
            float w = g->data[e];
            if (w >= cut && w > 0.0f) {
                float rate = w / wmax;
                count[r] += rate * (float)(1.0 + neg_rate);
                count[g->indices[e]] += rate;
            }
        }
    }
}

/* The Jaccard weights of one slot of one slice, in parallel over its points. */
typedef struct jaccard_ctx {
    const aligned *a;
    size_t m, slot, to;   /* slice m, its slot, the slice the slot reaches */
    const uint8_t *image; /* per point of slice `to`: related from a point of slice m */
    float scale;          /* lambda exp(1 - |o|) */
    size_t max_deg;
} jaccard_ctx;

typedef struct jaccard_scratch {
    int32_t *x, *y;
} jaccard_scratch;

static int jaccard_init(void *ctx, void *scratch) {
    const jaccard_ctx *c = ctx;
    jaccard_scratch *s = scratch;
    size_t m = c->max_deg ? c->max_deg : 1;
    s->x = malloc(m * sizeof *s->x);
    s->y = malloc(m * sizeof *s->y);
    return s->x == NULL || s->y == NULL ? -1 : 0;
}

static int jaccard_finish(void *ctx, void *scratch) {
    (void)ctx;
    jaccard_scratch *s = scratch;
    free(s->x);
    free(s->y);
    return 0;
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* Sorts and removes repeats; returns the new length. */
static size_t sort_unique(int32_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_i32);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || v[k - 1] != v[i]) {
            v[k++] = v[i];
        }
    }
    return k;
}

static int jaccard_body(void *ctx, void *scratch, size_t lo, size_t hi) {
    const jaccard_ctx *c = ctx;
    const aligned *a = c->a;
    jaccard_scratch *s = scratch;
    const umapc_graph *g = a->slices[c->m].graph, *h = a->slices[c->to].graph;
    size_t W = a->n_slots;
    for (size_t p = lo; p < hi; p++) {
        size_t at = (a->offset[c->m] + p) * W + c->slot;
        int32_t r = a->rel[at];
        if (r < 0) {
            a->coef[at] = 0.0f;
            continue;
        }
        /* p's neighbours carried to slice `to`, and r's neighbours there that some point of
         * slice m is related to */
        size_t nx = 0, ny = 0;
        for (int64_t e = g->indptr[p]; e < g->indptr[p + 1]; e++) {
            int32_t q = g->data[e] > 0.0f
                            ? a->rel[(a->offset[c->m] + (size_t)g->indices[e]) * W + c->slot]
                            : -1;
            if (q >= 0) {
                s->x[nx++] = q;
            }
        }
        for (int64_t e = h->indptr[r]; e < h->indptr[r + 1]; e++) {
            if (h->data[e] > 0.0f && c->image[h->indices[e]]) {
                s->y[ny++] = h->indices[e];
            }
        }
        nx = sort_unique(s->x, nx);
        ny = sort_unique(s->y, ny);
        size_t both = 0;
        for (size_t i = 0, j = 0; i < nx && j < ny;) {
            if (s->x[i] == s->y[j]) {
                both++;
                i++;
                j++;
            } else if (s->x[i] < s->y[j]) {
                i++;
            } else {
                j++;
            }
        }
        size_t any = nx + ny - both;
        float jac = any > 0 ? (float)both / (float)any : 1.0f;
        a->coef[at] = c->scale * jac;
    }
    return 0;
}

static size_t max_degree(const umapc_graph *g) {
    size_t d = 0;
    for (size_t r = 0; r < g->n_rows; r++) {
        size_t k = (size_t)(g->indptr[r + 1] - g->indptr[r]);
        d = k > d ? k : d;
    }
    return d;
}

static umapc_status pull_weights(aligned *a, const umapc_aligned_options *o, int n_epochs,
                                 umapc_error *err) {
    size_t S = a->n_slices, n_max = 0;
    for (size_t m = 0; m < S; m++) {
        n_max = a->slices[m].n > n_max ? a->slices[m].n : n_max;
    }
    uint8_t *image = malloc(n_max);
    umapc_status st =
        image == NULL ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_aligned: out of memory")
                      : UMAPC_OK;
    for (size_t m = 0; m < S && !st; m++) {
        if (a->slices[m].fixed) {
            continue;
        }
        sample_counts(a->slices[m].graph, n_epochs, o->layout.negative_sample_rate,
                      a->samples + a->offset[m]);
        for (size_t slot = 0; slot < a->n_slots && !st; slot++) {
            int off = slot_offset(a, slot);
            if ((off < 0 && (size_t)(-off) > m) || (off > 0 && m + (size_t)off >= S)) {
                for (size_t p = 0; p < a->slices[m].n; p++) {
                    a->coef[(a->offset[m] + p) * a->n_slots + slot] = 0.0f;
                }
                continue;
            }
            size_t to = (size_t)((ptrdiff_t)m + off);
            memset(image, 0, a->slices[to].n);
            for (size_t p = 0; p < a->slices[m].n; p++) {
                int32_t r = a->rel[(a->offset[m] + p) * a->n_slots + slot];
                if (r >= 0) {
                    image[r] = 1;
                }
            }
            size_t dm = max_degree(a->slices[m].graph), dt = max_degree(a->slices[to].graph);
            jaccard_ctx c = {.a = a,
                             .m = m,
                             .slot = slot,
                             .to = to,
                             .image = image,
                             .scale = (float)(o->regularisation * exp(1.0 - fabs((double)off))),
                             .max_deg = dm > dt ? dm : dt};
            umapc_parallel_loop loop = {.n_items = a->slices[m].n,
                                        .chunk = 256,
                                        .n_threads = a->n_threads,
                                        .stage = "optimize_aligned",
                                        .ctx = &c,
                                        .scratch_size = sizeof(jaccard_scratch),
                                        .init = jaccard_init,
                                        .body = jaccard_body,
                                        .finish = jaccard_finish};
            st = umapc_parallel_for(&loop, err);
        }
    }
    free(image);
    return st;
}

/* The step of one moving slice, in parallel over its points: every read from snap. */
typedef struct step_ctx {
    const aligned *a;
    size_t m;
    float *pos;
    const int32_t *rank;
    float alpha;
} step_ctx;

/* umap-learn pulls a point s times per epoch (its sample count), each time by alpha C toward the
 * c-weighted mean of its related points (C the sum of the pulls c): s such moves in a row take it
 * 1 - (1 - alpha C)^s of the way there, and all the way once alpha C reaches 1. */
static int step_body(void *ctx, void *scratch, size_t lo, size_t hi) {
    (void)scratch;
    const step_ctx *c = ctx;
    const aligned *a = c->a;
    size_t W = a->n_slots, dim = a->dim;
    for (size_t p = lo; p < hi; p++) {
        size_t self = a->offset[c->m] + p;
        const float *x = a->snap + self * dim;
        float *out = c->pos + (size_t)c->rank[p] * dim;
        float pull = 0.0f;
        for (size_t d = 0; d < dim; d++) {
            out[d] = 0.0f;
        }
        for (size_t slot = 0; slot < W; slot++) {
            float cf = a->coef[self * W + slot];
            if (!(cf > 0.0f)) {
                continue;
            }
            size_t to = (size_t)((ptrdiff_t)c->m + slot_offset(a, slot));
            const float *y = a->snap + (a->offset[to] + (size_t)a->rel[self * W + slot]) * dim;
            pull += cf;
            for (size_t d = 0; d < dim; d++) {
                out[d] += cf * y[d];
            }
        }
        float step = c->alpha * pull, s = a->samples[self];
        float f = step >= 1.0f ? 1.0f : -expm1f(s * log1pf(-step));
        for (size_t d = 0; d < dim; d++) {
            out[d] = pull > 0.0f ? x[d] + f * (out[d] / pull - x[d]) : x[d];
        }
    }
    return 0;
}

static umapc_status align_step(aligned *a, umapc_error *err) {
    size_t dim = a->dim;
    float alpha = 0.0f;
    for (size_t m = 0; m < a->n_slices; m++) {
        float *dst = a->snap + a->offset[m] * dim;
        if (a->fits[m] == NULL) {
            memcpy(dst, a->slices[m].embedding, a->slices[m].n * dim * sizeof *dst);
            continue;
        }
        const float *pos = layout_positions(a->fits[m]);
        const int32_t *rank = layout_rank(a->fits[m]);
        for (size_t p = 0; p < a->slices[m].n; p++) {
            memcpy(dst + p * dim, pos + (size_t)rank[p] * dim, dim * sizeof *dst);
        }
        alpha = layout_alpha(a->fits[m]);
    }
    for (size_t m = 0; m < a->n_slices; m++) {
        if (a->fits[m] == NULL) {
            continue;
        }
        step_ctx c = {.a = a,
                      .m = m,
                      .pos = layout_positions(a->fits[m]),
                      .rank = layout_rank(a->fits[m]),
                      .alpha = alpha};
        umapc_parallel_loop loop = {.n_items = a->slices[m].n,
                                    .chunk = 1024,
                                    .n_threads = a->n_threads,
                                    .stage = "optimize_aligned",
                                    .ctx = &c,
                                    .body = step_body};
        umapc_status st = umapc_parallel_for(&loop, err);
        if (st) {
            return st;
        }
    }
    return UMAPC_OK;
}

static umapc_status aligned_prepare(aligned *a, umapc_aligned_slice *slices,
                                    const umapc_idx *const *relations,
                                    const umapc_aligned_options *o, int n_epochs,
                                    umapc_error *err) {
    size_t S = a->n_slices;
    a->offset = malloc((S + 1) * sizeof *a->offset);
    a->fits = calloc(S, sizeof *a->fits);
    if (a->offset == NULL || a->fits == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_aligned: out of memory");
    }
    a->offset[0] = 0;
    for (size_t m = 0; m < S; m++) {
        a->offset[m + 1] = a->offset[m] + slices[m].n;
    }
    /* a thread wakes up for each step of each epoch: on small slices, and where other work shares
     * the cores, waking more costs more than the step (as the layout caps its team) */
    size_t useful = 1 + a->offset[S] * (a->n_slots ? a->n_slots : 1) / 65536;
    a->n_threads = useful < (size_t)a->n_threads ? (int)useful : a->n_threads;
    size_t cells = umapc_mul_size(a->offset[S], a->n_slots ? a->n_slots : 1);
    a->rel = malloc(umapc_mul_size(cells, sizeof *a->rel));
    a->coef = malloc(umapc_mul_size(cells, sizeof *a->coef));
    a->samples = malloc(umapc_mul_size(a->offset[S], sizeof *a->samples));
    a->snap = malloc(umapc_mul_size(umapc_mul_size(a->offset[S], a->dim), sizeof *a->snap));
    if (a->rel == NULL || a->coef == NULL || a->samples == NULL || a->snap == NULL ||
        expand_relations(a, relations) != 0) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "optimize_aligned: out of memory");
    }
    umapc_status st = pull_weights(a, o, n_epochs, err);
    uint64_t base = o->layout.seed >= 0 ? (uint64_t)o->layout.seed : 0x5eed5eedULL;
    for (size_t m = 0; m < S && !st; m++) {
        if (slices[m].fixed) {
            continue;
        }
        umapc_layout_options lo = o->layout;
        lo.seed = (int64_t)(umapc_rand_at(base, ALIGNED_SEED_STREAM, m) >> 1);
        st = layout_open(&a->fits[m], slices[m].embedding, slices[m].n, a->dim, slices[m].graph,
                         &lo, n_epochs, err);
    }
    return st;
}

umapc_status umapc_optimize_aligned(umapc_aligned_slice *slices, size_t n_slices, size_t dim,
                                    const umapc_idx *const *relations,
                                    const umapc_aligned_options *opts,
                                    const umapc_progress *progress, umapc_error *err) {
    umapc_aligned_options defaults;
    if (opts == NULL) {
        umapc_aligned_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status st = check_aligned_args(slices, n_slices, dim, relations, opts, err);
    if (st) {
        return st;
    }
    int n_epochs = opts->layout.n_epochs > 0 ? opts->layout.n_epochs : 200;
    size_t window =
        (size_t)opts->window_size < n_slices - 1 ? (size_t)opts->window_size : n_slices - 1;
    aligned a = {.slices = slices,
                 .n_slices = n_slices,
                 .dim = dim,
                 .window = (int)window,
                 .n_slots = 2 * window,
                 .n_threads = umapc_resolve_threads(opts->layout.n_threads)};
    st = aligned_prepare(&a, slices, relations, opts, n_epochs, err);
    int align = a.n_slots > 0 && opts->regularisation > 0.0;
    for (int epoch = 0; epoch < n_epochs && !st; epoch++) {
        for (size_t m = 0; m < n_slices && !st; m++) {
            if (a.fits[m] != NULL) {
                st = layout_epoch(a.fits[m], epoch, err);
            }
        }
        if (!st && align) {
            st = align_step(&a, err);
        }
        if (!st && umapc_progress_report(progress, "optimize layout", (size_t)epoch + 1,
                                         (size_t)n_epochs)) {
            st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
        }
    }
    aligned_free(&a); /* closing the fits writes the slices' positions back */
    return st;
}
