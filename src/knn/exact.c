/* Exact (brute-force) k-NN search.
 *
 * Euclidean, sqeuclidean, cosine, correlation and dot go through a matrix-multiply formulation:
 * value = |q|^2 + |x|^2 - 2 q.x on prepared rows (or 2 - 2 q.x on normalised rows, -2 q.x for
 * dot), computed by a register-blocked kernel on packed panels. fp32 cancellation makes these
 * values approximate, so the kernel only nominates candidates: every value v carries an error
 * allowance e (a forward error bound of the dot product and of umapc_distance itself), each query
 * keeps the k smallest upper bounds v + e, and a column stays a candidate while its lower bound
 * v - e does not exceed the k-th upper bound. A true neighbour's lower bound can never exceed
 * that, so re-ranking the candidates with umapc_distance returns exactly the naive answer.
 * Other metrics are evaluated directly, blocked over queries and data. */
#include "exact_kernels.h"
#include "internal.h"
#include "metric.h"
#include "parallel.h"
#include "sparse_rows.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STAGE "exact search"
/* Budget for a thread's packed query block: it stays in L2 while data panels stream past it. */
#define A_BLOCK_BYTES    (384u * 1024u)
#define MAX_MICRO_PANELS 16
/* Rows of prepared angular data whose squared norm is this far from 1 are zero or constant rows;
 * their surrogate does not order like the metric, so they bypass the GEMM. */
#define UNIT_NORM_TOLERANCE 1e-3
#define DIRECT_QUERY_BLOCK  16
#define DIRECT_DATA_BYTES   (128u * 1024u)

/* ---------------------------------------------------------------------------------------------
 * Kernel selection and packing */

static void tile_scalar(size_t dim, const float *a, const float *b, const exact_tile_args *args,
                        float *tile, uint32_t *hits) {
    enum { MR = 4, NR = 16 };
    float acc[MR][NR] = {{0}};
    for (size_t k = 0; k < dim; k++) {
        for (size_t r = 0; r < MR; r++) {
            for (size_t c = 0; c < NR; c++) {
                acc[r][c] += a[k * MR + r] * b[k * NR + c];
            }
        }
    }
    for (size_t r = 0; r < MR; r++) {
        uint32_t h = 0;
        for (size_t c = 0; c < NR; c++) {
            float v = args->row_norm[r] + args->col_norm[c] - 2.0f * acc[r][c];
            v = v < args->clamp_max ? v : args->clamp_max;
            tile[r * NR + c] = v;
            h |= (uint32_t)(v - args->col_slack[c] <= args->row_bound[r]) << c;
        }
        hits[r] = h;
    }
}

static const exact_gemm_kernel scalar_table = {tile_scalar, 4, 16, "scalar"};

static const exact_gemm_kernel *const kernels_by_level[UMAPC_LEVEL_COUNT] = {
    [UMAPC_LEVEL_SCALAR] = &scalar_table,
#if defined(UMAPC_HAVE_X86_KERNELS)
    [UMAPC_LEVEL_AVX2] = &exact_kernel_avx2_table,
    [UMAPC_LEVEL_AVX512] = &exact_kernel_avx512_table,
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    [UMAPC_LEVEL_NEON] = &exact_kernel_neon_table,
#endif
};

const exact_gemm_kernel *exact_kernel_at(umapc_level level) {
    return umapc_cpu_runs(level) ? kernels_by_level[level] : NULL;
}

const exact_gemm_kernel *exact_kernel_select(void) {
    const exact_gemm_kernel *kernel = exact_kernel_at(umapc_cpu_level());
    return kernel != NULL ? kernel : &scalar_table;
}

void exact_pack_column(const float *row, size_t dim, size_t width, size_t c, float *panel) {
    for (size_t k = 0; k < dim; k++) {
        panel[k * width + c] = row != NULL ? row[k] : 0.0f;
    }
}

void exact_pack_panel(const float *rows, size_t n_rows, size_t dim, size_t width, float *panel) {
    for (size_t c = 0; c < width; c++) {
        exact_pack_column(c < n_rows ? rows + c * dim : NULL, dim, width, c, panel);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Ordering and small heaps */

typedef struct scored {
    float value;
    umapc_idx index;
} scored;

/* Distance order of the API: smaller first, NaN after every number, ties by lower index. */
static inline int scored_before(scored a, scored b) {
    if (a.value < b.value) {
        return 1;
    }
    if (a.value > b.value) {
        return 0;
    }
    int a_nan = isnan(a.value), b_nan = isnan(b.value);
    if (a_nan != b_nan) {
        return b_nan;
    }
    return a.index < b.index;
}

static int scored_compare(const void *pa, const void *pb) {
    scored a = *(const scored *)pa, b = *(const scored *)pb;
    return scored_before(a, b) ? -1 : (scored_before(b, a) ? 1 : 0);
}

/* Max-heap (worst on top) of at most cap entries under scored_before. */
static void scored_offer(scored *heap, size_t *len, size_t cap, scored item) {
    size_t i;
    if (*len < cap) {
        i = (*len)++;
        while (i > 0 && scored_before(heap[(i - 1) / 2], item)) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = item;
        return;
    }
    if (!scored_before(item, heap[0])) {
        return;
    }
    i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= cap) {
            break;
        }
        if (child + 1 < cap && scored_before(heap[child], heap[child + 1])) {
            child++;
        }
        if (!scored_before(item, heap[child])) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = item;
}

/* Sorts the first m entries and writes the best k, padding with -1 / +inf. */
static void write_sorted(scored *items, size_t m, size_t k, umapc_idx *indices, float *distances) {
    qsort(items, m, sizeof *items, scored_compare);
    for (size_t i = 0; i < k; i++) {
        indices[i] = i < m ? items[i].index : -1;
        distances[i] = i < m ? items[i].value : INFINITY;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The job */

typedef struct search_job {
    const exact_gemm_kernel *kernel; /* NULL: direct evaluation */
    const umapc_metric *metric;
    const float *data;
    size_t n, dim;
    const float *queries;
    size_t nq;
    size_t k; /* neighbours written per query */
    const uint8_t *mask;
    int self; /* query i is data row i and never its own neighbour */
    int n_threads;
    const umapc_progress *progress;
    umapc_idx *indices;
    float *distances;
    size_t stride; /* output row stride */
    /* Sparse rows (both set, or both NULL): then data and queries are unused, and every pair is
     * measured directly on them. */
    const sparse_rows *sdata, *squeries;
} search_job;

/* What a sparse row occupies on average, in floats (its values and column indices), at least 1:
 * the direct path's slab of data rows that stays in cache. */
static size_t sparse_row_floats(const sparse_rows *r) {
    size_t nnz = r->n > 0 ? (size_t)r->indptr[r->n] : 0;
    size_t avg = r->n > 0 ? 2 * nnz / r->n : 0;
    return avg > 0 ? avg : 1;
}

static inline float pair_distance(const search_job *job, size_t q, size_t j) {
    if (job->sdata != NULL) {
        return sparse_rows_distance(job->squeries, q, job->sdata, j);
    }
    size_t dim = job->dim;
    return umapc_distance(job->metric, job->queries + q * dim, job->data + j * dim, dim);
}

static int row_allowed(const search_job *job, size_t j) {
    return job->mask == NULL || job->mask[j] != 0;
}

static umapc_idx self_of(const search_job *job, size_t q) {
    return job->self ? (umapc_idx)q : -1;
}

/* One query against every allowed row with umapc_distance: the reference path, also used for
 * queries whose GEMM surrogate is meaningless. heap holds job->k entries. */
static void direct_query(const search_job *job, size_t q, scored *heap) {
    const float *row = job->queries + q * job->dim;
    umapc_idx self = self_of(job, q);
    size_t len = 0;
    for (size_t j = 0; j < job->n; j++) {
        if (!row_allowed(job, j) || (umapc_idx)j == self) {
            continue;
        }
        scored s = {umapc_distance(job->metric, row, job->data + j * job->dim, job->dim),
                    (umapc_idx)j};
        scored_offer(heap, &len, job->k, s);
    }
    write_sorted(heap, len, job->k, job->indices + q * job->stride,
                 job->distances + q * job->stride);
}

/* ---------------------------------------------------------------------------------------------
 * Prepared data for the GEMM path */

typedef struct gemm_data {
    const exact_gemm_kernel *kernel;
    metric_plan plan;
    float kappa;     /* error allowance per unit of error norm */
    float clamp_max; /* dot saturates: pynndescent's dot distance is 1 for any q.x <= 0 */
    /* dot's distance fl(1 - q.x) rounds by up to 2^-24 regardless of the rows' norms */
    float absolute_slack;
    size_t n_panels;
    float *packed;      /* n_panels panels of dim x nr */
    float *col_norm;    /* n_panels * nr */
    float *col_slack;   /* n_panels * nr */
    uint32_t *allowed;  /* per panel: allowed, non-degenerate, existing columns */
    umapc_idx *special; /* allowed degenerate rows, re-ranked for every query */
    size_t n_special;
} gemm_data;

static int uses_gemm(umapc_metric_kind kind) {
    return kind == UMAPC_METRIC_EUCLIDEAN || kind == UMAPC_METRIC_SQEUCLIDEAN ||
           kind == UMAPC_METRIC_COSINE || kind == UMAPC_METRIC_CORRELATION ||
           kind == UMAPC_METRIC_DOT || kind == UMAPC_METRIC_INNER_PRODUCT;
}

/* How one row enters the GEMM: its prepared form, the norm term of the formula and its error
 * norm. Returns 1 when the row is degenerate (zero or constant under an angular metric). */
typedef struct row_terms {
    const float *prepared;
    float norm;
    float error_norm;
} row_terms;

static double sum_squares(const float *row, size_t dim) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        s += (double)row[i] * (double)row[i];
    }
    return s;
}

/* |x|^2 / |x - mean|^2: how much centring amplifies rounding error for correlation. */
static double centering_condition(const float *row, size_t dim) {
    double mean = 0.0;
    for (size_t i = 0; i < dim; i++) {
        mean += row[i];
    }
    mean /= (double)dim;
    double centred = 0.0;
    for (size_t i = 0; i < dim; i++) {
        centred += ((double)row[i] - mean) * ((double)row[i] - mean);
    }
    return centred > 0.0 ? sum_squares(row, dim) / centred : INFINITY;
}

static int row_prepare(const metric_plan *plan, const float *raw, size_t dim, float *tmp,
                       row_terms *out) {
    const float *prepared = raw;
    if (plan->prep != METRIC_PREP_NONE) {
        metric_prepare_row(plan, raw, tmp, dim);
        prepared = tmp;
    }
    out->prepared = prepared;
    double sq = sum_squares(prepared, dim);
    switch (plan->metric.kind) {
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION:
        out->norm = 1.0f;
        out->error_norm =
            plan->metric.kind == UMAPC_METRIC_COSINE ? 1.0f : (float)centering_condition(raw, dim);
        return !(fabs(sq - 1.0) <= UNIT_NORM_TOLERANCE) || !isfinite(out->error_norm);
    case UMAPC_METRIC_DOT:
    case UMAPC_METRIC_INNER_PRODUCT:
        out->norm = 0.0f;
        out->error_norm = (float)sq;
        return 0;
    default:
        out->norm = (float)sq;
        out->error_norm = (float)sq;
        return 0;
    }
}

/* Forward error of v = |q|^2 + |x|^2 - 2 q.x in fp32 is about (dim + 6) u (|q|^2 + |x|^2); the
 * metric's own fp32 distance adds as much again. Twice the sum leaves room for rounding in the
 * bound arithmetic itself. */
static float error_kappa(size_t dim) {
    return (float)(8.0 * ((double)dim + 16.0) * (double)FLT_EPSILON * 0.5);
}

static void gemm_data_free(gemm_data *g) {
    umapc_aligned_free(g->packed);
    umapc_aligned_free(g->col_norm);
    umapc_aligned_free(g->col_slack);
    free(g->allowed);
    free(g->special);
    memset(g, 0, sizeof *g);
}

/* Packs one panel; returns the allowed-column mask and marks degenerate rows in special_flag. */
static uint32_t pack_data_panel(const search_job *job, gemm_data *g, size_t panel, float *tmp,
                                uint8_t *special_flag) {
    size_t nr = g->kernel->nr, dim = job->dim;
    float *dst = g->packed + panel * nr * dim;
    uint32_t allowed = 0;
    for (size_t c = 0; c < nr; c++) {
        size_t j = panel * nr + c;
        row_terms t = {NULL, 0.0f, 0.0f};
        int degenerate = 0;
        if (j < job->n) {
            degenerate = row_prepare(&g->plan, job->data + j * dim, dim, tmp, &t);
            special_flag[j] = (uint8_t)(degenerate && row_allowed(job, j));
            if (!degenerate && row_allowed(job, j)) {
                allowed |= (uint32_t)1 << c;
            }
        }
        exact_pack_column(degenerate ? NULL : t.prepared, dim, nr, c, dst);
        g->col_norm[j] = degenerate ? 0.0f : t.norm;
        g->col_slack[j] = degenerate ? 0.0f : g->kappa * t.error_norm;
    }
    return allowed;
}

typedef struct pack_job {
    const search_job *job;
    gemm_data *g;
    uint8_t *special_flag;
} pack_job;

static int pack_run(void *ctx, void *scratch, size_t lo, size_t hi) {
    const pack_job *pj = ctx;
    float *tmp = scratch;
    for (size_t p = lo; p < hi; p++) {
        pj->g->allowed[p] = pack_data_panel(pj->job, pj->g, p, tmp, pj->special_flag);
    }
    return 0;
}

static umapc_status gemm_data_init(const search_job *job, gemm_data *g, int n_threads,
                                   umapc_error *err) {
    memset(g, 0, sizeof *g);
    g->kernel = job->kernel;
    metric_plan_init(&g->plan, job->metric);
    g->kappa = error_kappa(job->dim);
    g->clamp_max = job->metric->kind == UMAPC_METRIC_DOT ? 0.0f : INFINITY;
    g->absolute_slack = job->metric->kind == UMAPC_METRIC_DOT ? 4.0f * FLT_EPSILON : 0.0f;
    size_t nr = g->kernel->nr, dim = job->dim;
    g->n_panels = (job->n + nr - 1) / nr;
    size_t n_pad = g->n_panels * nr;
    g->packed = umapc_aligned_alloc(umapc_mul_size(n_pad, dim), sizeof(float));
    g->col_norm = umapc_aligned_alloc(n_pad, sizeof(float));
    g->col_slack = umapc_aligned_alloc(n_pad, sizeof(float));
    g->allowed = malloc(g->n_panels * sizeof *g->allowed);
    uint8_t *special_flag = calloc(job->n, 1);
    if (!g->packed || !g->col_norm || !g->col_slack || !g->allowed || !special_flag) {
        free(special_flag);
        gemm_data_free(g);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY,
                          "exact search: cannot allocate the packed copy of %zu x %zu data", job->n,
                          dim);
    }
    pack_job pj = {job, g, special_flag};
    umapc_parallel_loop loop = {.n_items = g->n_panels,
                                .chunk = 1,
                                .n_threads = n_threads,
                                .stage = STAGE,
                                .ctx = &pj,
                                .scratch_size = job->dim * sizeof(float),
                                .body = pack_run};
    int failed = umapc_parallel_for(&loop, NULL) != UMAPC_OK;
    size_t n_special = 0;
    for (size_t j = 0; j < job->n; j++) {
        n_special += special_flag[j];
    }
    g->special = malloc((n_special > 0 ? n_special : 1) * sizeof *g->special);
    if (failed || g->special == NULL) {
        free(special_flag);
        gemm_data_free(g);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "exact search: out of memory");
    }
    for (size_t j = 0; j < job->n; j++) {
        if (special_flag[j]) {
            g->special[g->n_special++] = (umapc_idx)j;
        }
    }
    free(special_flag);
    return UMAPC_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Per-thread state of the GEMM path */

typedef struct candidate {
    float lower; /* value - allowance: no smaller than the true surrogate minus its error */
    umapc_idx index;
} candidate;

typedef struct query_state {
    float *bounds; /* k smallest upper bounds (max-heap) */
    size_t n_bounds;
    candidate *cand;
    size_t n_cand, cap;
    float slack;
    umapc_idx self;
    int degenerate;
} query_state;

typedef struct worker {
    size_t mc; /* queries per block, a multiple of mr */
    float *apack;
    float *row_norm, *bound;
    float *tile;
    float *tmp;
    float *bound_heaps;
    query_state *qs;
    scored *scratch;
    size_t scratch_cap;
} worker;

static void worker_free(worker *w) {
    umapc_aligned_free(w->apack);
    umapc_aligned_free(w->tile);
    free(w->row_norm);
    free(w->bound);
    free(w->tmp);
    free(w->bound_heaps);
    if (w->qs != NULL) {
        for (size_t i = 0; i < w->mc; i++) {
            free(w->qs[i].cand);
        }
    }
    free(w->qs);
    free(w->scratch);
    memset(w, 0, sizeof *w);
}

static int worker_init(worker *w, const search_job *job, size_t mc) {
    memset(w, 0, sizeof *w);
    size_t mr = job->kernel->mr, nr = job->kernel->nr, k = job->k;
    w->mc = mc;
    w->apack = umapc_aligned_alloc(umapc_mul_size(mc, job->dim), sizeof(float));
    w->tile = umapc_aligned_alloc(mr * nr, sizeof(float));
    w->row_norm = malloc(mc * sizeof(float));
    w->bound = malloc(mr * sizeof(float));
    w->tmp = malloc(job->dim * sizeof(float));
    w->bound_heaps = malloc(umapc_mul_size(mc, k) * sizeof(float));
    w->qs = calloc(mc, sizeof *w->qs);
    if (!w->apack || !w->tile || !w->row_norm || !w->bound || !w->tmp || !w->bound_heaps ||
        !w->qs) {
        worker_free(w);
        return -1;
    }
    for (size_t i = 0; i < mc; i++) {
        w->qs[i].bounds = w->bound_heaps + i * k;
        w->qs[i].cap = 2 * k + 32;
        w->qs[i].cand = malloc(w->qs[i].cap * sizeof(candidate));
        if (w->qs[i].cand == NULL) {
            worker_free(w);
            return -1;
        }
    }
    return 0;
}

static float query_tau(const query_state *q, size_t k) {
    return q->n_bounds == k ? q->bounds[0] : INFINITY;
}

static size_t compact(candidate *cand, size_t n, float tau) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (cand[i].lower <= tau) {
            cand[kept++] = cand[i];
        }
    }
    return kept;
}

/* Makes room for one more candidate: drops the ones the current bound rules out, and grows the
 * list when that frees less than half (many ties, or fewer allowed rows than k). */
static int make_room(query_state *q, size_t k) {
    q->n_cand = compact(q->cand, q->n_cand, query_tau(q, k));
    if (q->n_cand * 2 <= q->cap) {
        return 0;
    }
    size_t cap = q->cap * 2;
    candidate *grown = realloc(q->cand, cap * sizeof *grown);
    if (grown == NULL) {
        return -1;
    }
    q->cand = grown;
    q->cap = cap;
    return 0;
}

static int take_hits(query_state *q, size_t k, const float *values, uint32_t hits, size_t col0,
                     const float *col_slack) {
    while (hits != 0) {
        unsigned c = (unsigned)__builtin_ctz(hits);
        hits &= hits - 1;
        umapc_idx j = (umapc_idx)(col0 + c);
        if (j == q->self) {
            continue;
        }
        float allowance = q->slack + col_slack[c];
        float lower = values[c] - allowance;
        umapc_offer_smallest(q->bounds, &q->n_bounds, k, values[c] + allowance);
        if (!(lower <= query_tau(q, k))) {
            continue;
        }
        if (q->n_cand == q->cap && make_room(q, k) < 0) {
            return -1;
        }
        q->cand[q->n_cand++] = (candidate){lower, j};
    }
    return 0;
}

/* Packs the queries of a block into micro-panels and resets their state. */
static void pack_queries(const search_job *job, const gemm_data *g, worker *w, size_t q0,
                         size_t mq) {
    size_t mr = g->kernel->mr, dim = job->dim;
    size_t rows = (mq + mr - 1) / mr * mr;
    for (size_t i = 0; i < rows; i++) {
        float *panel = w->apack + (i / mr) * mr * dim;
        query_state *q = &w->qs[i];
        q->n_bounds = 0;
        q->n_cand = 0;
        q->degenerate = 1;
        q->slack = 0.0f;
        w->row_norm[i] = 0.0f;
        if (i >= mq) {
            exact_pack_column(NULL, dim, mr, i % mr, panel);
            continue;
        }
        row_terms t;
        q->self = self_of(job, q0 + i);
        q->degenerate = row_prepare(&g->plan, job->queries + (q0 + i) * dim, dim, w->tmp, &t);
        exact_pack_column(q->degenerate ? NULL : t.prepared, dim, mr, i % mr, panel);
        if (!q->degenerate) {
            w->row_norm[i] = t.norm;
            q->slack = g->kappa * t.error_norm + g->absolute_slack;
        }
    }
}

static int sweep_data(const search_job *job, const gemm_data *g, worker *w, size_t mq) {
    const exact_gemm_kernel *kern = g->kernel;
    size_t mr = kern->mr, nr = kern->nr, dim = job->dim, k = job->k;
    size_t n_micro = (mq + mr - 1) / mr;
    uint32_t hits[32];
    for (size_t p = 0; p < g->n_panels; p++) {
        uint32_t allowed = g->allowed[p];
        if (allowed == 0) {
            continue;
        }
        const float *b = g->packed + p * nr * dim;
        const float *col_slack = g->col_slack + p * nr;
        for (size_t m = 0; m < n_micro; m++) {
            query_state *qs = w->qs + m * mr;
            for (size_t r = 0; r < mr; r++) {
                w->bound[r] = qs[r].degenerate ? -INFINITY : query_tau(&qs[r], k) + qs[r].slack;
            }
            exact_tile_args args = {w->row_norm + m * mr, g->col_norm + p * nr, col_slack, w->bound,
                                    g->clamp_max};
            kern->tile(dim, w->apack + m * mr * dim, b, &args, w->tile, hits);
            for (size_t r = 0; r < mr; r++) {
                uint32_t h = hits[r] & allowed;
                if (h != 0 && take_hits(&qs[r], k, w->tile + r * nr, h, p * nr, col_slack) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

static int reserve_scratch(worker *w, size_t need) {
    if (need <= w->scratch_cap) {
        return 0;
    }
    scored *grown = realloc(w->scratch, need * sizeof *grown);
    if (grown == NULL) {
        return -1;
    }
    w->scratch = grown;
    w->scratch_cap = need;
    return 0;
}

/* Exact re-rank of a query's surviving candidates plus the degenerate rows. */
static int finish_query(const search_job *job, const gemm_data *g, worker *w, size_t qi,
                        query_state *q) {
    if (reserve_scratch(w, q->degenerate ? job->k : q->n_cand + g->n_special + 1) < 0) {
        return -1;
    }
    if (q->degenerate) {
        direct_query(job, qi, w->scratch);
        return 0;
    }
    const float *row = job->queries + qi * job->dim;
    size_t m = 0;
    size_t kept = compact(q->cand, q->n_cand, query_tau(q, job->k));
    for (size_t i = 0; i < kept + g->n_special; i++) {
        umapc_idx j = i < kept ? q->cand[i].index : g->special[i - kept];
        if (j == q->self) {
            continue;
        }
        w->scratch[m++] = (scored){
            umapc_distance(job->metric, row, job->data + (size_t)j * job->dim, job->dim), j};
    }
    write_sorted(w->scratch, m, job->k, job->indices + qi * job->stride,
                 job->distances + qi * job->stride);
    return 0;
}

static int gemm_block(const search_job *job, const gemm_data *g, worker *w, size_t q0, size_t mq) {
    pack_queries(job, g, w, q0, mq);
    if (sweep_data(job, g, w, mq) < 0) {
        return -1;
    }
    for (size_t i = 0; i < mq; i++) {
        if (finish_query(job, g, w, q0 + i, &w->qs[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Direct path, blocked so a slab of data rows is reused by a few queries while in cache */

/* Sparse queries one at a time, each scattered into the probe buffer and measured against every
 * data row by gathers: the data streams past once per query. */
static void probe_block(const search_job *job, float *buf, scored *heap, size_t q0, size_t mq) {
    for (size_t i = 0; i < mq; i++) {
        sparse_probe probe;
        sparse_probe_load(&probe, job->squeries, q0 + i, buf);
        umapc_idx self = self_of(job, q0 + i);
        size_t len = 0;
        for (size_t j = 0; j < job->n; j++) {
            if (!row_allowed(job, j) || (umapc_idx)j == self) {
                continue;
            }
            scored s = {sparse_probe_distance(&probe, job->sdata, j), (umapc_idx)j};
            scored_offer(heap, &len, job->k, s);
        }
        sparse_probe_unload(&probe);
        write_sorted(heap, len, job->k, job->indices + (q0 + i) * job->stride,
                     job->distances + (q0 + i) * job->stride);
    }
}

static int direct_block(const search_job *job, scored *heaps, size_t *lens, size_t q0, size_t mq) {
    size_t k = job->k, dim = job->sdata != NULL ? sparse_row_floats(job->sdata) : job->dim;
    size_t slab = DIRECT_DATA_BYTES / (dim * sizeof(float));
    slab = slab < 16 ? 16 : slab;
    for (size_t i = 0; i < mq; i++) {
        lens[i] = 0;
    }
    for (size_t j0 = 0; j0 < job->n; j0 += slab) {
        size_t j1 = j0 + slab < job->n ? j0 + slab : job->n;
        for (size_t i = 0; i < mq; i++) {
            umapc_idx self = self_of(job, q0 + i);
            for (size_t j = j0; j < j1; j++) {
                if (!row_allowed(job, j) || (umapc_idx)j == self) {
                    continue;
                }
                scored s = {pair_distance(job, q0 + i, j), (umapc_idx)j};
                scored_offer(heaps + i * k, &lens[i], k, s);
            }
        }
    }
    for (size_t i = 0; i < mq; i++) {
        write_sorted(heaps + i * k, lens[i], k, job->indices + (q0 + i) * job->stride,
                     job->distances + (q0 + i) * job->stride);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Driver: blocks of queries over umapc_parallel_for. */

static size_t gemm_block_queries(const search_job *job, int n_threads) {
    size_t mr = job->kernel->mr;
    size_t micro = A_BLOCK_BYTES / (job->dim * sizeof(float) * mr);
    micro = micro < 1 ? 1 : (micro > MAX_MICRO_PANELS ? MAX_MICRO_PANELS : micro);
    /* Several blocks per thread, so that a short search still spreads over all threads. */
    size_t per_thread = (job->nq + 4 * (size_t)n_threads - 1) / (4 * (size_t)n_threads);
    size_t wanted = (per_thread + mr - 1) / mr;
    if (wanted < micro) {
        micro = wanted < 1 ? 1 : wanted;
    }
    return micro * mr;
}

typedef struct block_job {
    const search_job *job;
    const gemm_data *g; /* NULL on the direct path */
    size_t block;
} block_job;

typedef struct block_scratch {
    worker w; /* the GEMM path's */
    scored *heaps;
    size_t *lens;
    float *probe; /* sparse rows whose metric gathers: one dense row */
} block_scratch;

static int block_init(void *ctx, void *scratch) {
    const block_job *bj = ctx;
    block_scratch *bs = scratch;
    if (bj->g != NULL) {
        return worker_init(&bs->w, bj->job, bj->block);
    }
    bs->heaps = malloc(umapc_mul_size(bj->block, bj->job->k) * sizeof *bs->heaps);
    bs->lens = malloc(bj->block * sizeof *bs->lens);
    int failed = 0;
    bs->probe = bj->job->sdata != NULL ? sparse_probe_buffer(bj->job->sdata, &failed) : NULL;
    return bs->heaps != NULL && bs->lens != NULL && !failed ? 0 : -1;
}

/* One block: its queries are packed together, and the GEMM path sweeps the data once for all of
 * them. */
static int block_run(void *ctx, void *scratch, size_t lo, size_t hi) {
    const block_job *bj = ctx;
    block_scratch *bs = scratch;
    if (bj->g != NULL) {
        return gemm_block(bj->job, bj->g, &bs->w, lo, hi - lo);
    }
    if (bs->probe != NULL) {
        probe_block(bj->job, bs->probe, bs->heaps, lo, hi - lo);
        return 0;
    }
    return direct_block(bj->job, bs->heaps, bs->lens, lo, hi - lo);
}

static int block_finish(void *ctx, void *scratch) {
    (void)ctx;
    block_scratch *bs = scratch;
    worker_free(&bs->w); /* safe when unused or after a failed init: w is zeroed then */
    free(bs->heaps);
    free(bs->lens);
    free(bs->probe);
    return 0;
}

static umapc_status run_search(const search_job *job, umapc_error *err) {
    int n_threads = umapc_resolve_threads(job->n_threads);
    gemm_data g;
    const gemm_data *gp = NULL;
    if (job->kernel != NULL && uses_gemm(job->metric->kind)) {
        umapc_status st = gemm_data_init(job, &g, n_threads, err);
        if (st != UMAPC_OK) {
            return st;
        }
        gp = &g;
    }
    block_job bj = {job, gp, gp != NULL ? gemm_block_queries(job, n_threads) : DIRECT_QUERY_BLOCK};
    /* A block searches all the data for each of its queries: worth a report each. */
    umapc_parallel_loop loop = {.n_items = job->nq,
                                .chunk = bj.block,
                                .n_threads = n_threads,
                                .progress = job->progress,
                                .stage = STAGE,
                                .report_every = 1,
                                .oom_message = "exact search: out of memory for per-thread buffers",
                                .ctx = &bj,
                                .scratch_size = sizeof(block_scratch),
                                .init = block_init,
                                .body = block_run,
                                .finish = block_finish};
    umapc_status st = umapc_parallel_for(&loop, err);
    if (gp != NULL) {
        gemm_data_free(&g);
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Public entry points */

void umapc_exact_options_init(umapc_exact_options *opts) {
    opts->n_threads = 0;
}

static umapc_status check_common(const umapc_metric *metric, const float *data, size_t n,
                                 size_t dim, umapc_idx *indices, float *distances,
                                 umapc_error *err) {
    if (metric == NULL || data == NULL || indices == NULL || distances == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact search: metric, data, indices and distances must not be NULL");
    }
    if (dim == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "exact search: dim must be positive");
    }
    if (n > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact search: %zu rows exceed the int32 index range", n);
    }
    return umapc_metric_validate_dim(metric, dim, err);
}

static umapc_status check_k(size_t k, size_t n, umapc_error *err) {
    if (k == 0 || k > n) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact search: k must be between 1 and the number of data rows (%zu), "
                          "got %zu",
                          n, k);
    }
    return UMAPC_OK;
}

/* Column 0 of an all-points graph: each point itself at distance 0. With a progress, also the
 * report that the graph is done (k = 1: nothing else to search). */
static umapc_status self_column(size_t n, size_t k, const umapc_progress *progress,
                                umapc_idx *indices, float *distances, umapc_error *err) {
    for (size_t i = 0; i < n; i++) {
        indices[i * k] = (umapc_idx)i;
        distances[i * k] = 0.0f;
    }
    return progress != NULL && umapc_progress_report(progress, STAGE, n, n)
               ? umapc_fail(err, UMAPC_ERR_INTERRUPTED, "exact search: interrupted")
               : UMAPC_OK;
}

umapc_status exact_search_with(const exact_gemm_kernel *kernel, const umapc_metric *metric,
                               const float *data, size_t n, size_t dim, const float *queries,
                               size_t nq, size_t k, const uint8_t *filter_mask,
                               const umapc_exact_options *opts, const umapc_progress *progress,
                               umapc_idx *indices, float *distances, umapc_error *err) {
    umapc_status st = check_common(metric, data, n, dim, indices, distances, err);
    if (st == UMAPC_OK) {
        st = check_k(k, n, err);
    }
    if (st != UMAPC_OK) {
        return st;
    }
    if (queries == NULL && nq > 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "exact search: queries is NULL");
    }
    if (nq == 0) {
        return UMAPC_OK;
    }
    search_job job = {kernel,
                      metric,
                      data,
                      n,
                      dim,
                      queries,
                      nq,
                      k,
                      filter_mask,
                      0,
                      opts != NULL ? opts->n_threads : 0,
                      progress,
                      indices,
                      distances,
                      k,
                      NULL,
                      NULL};
    return run_search(&job, err);
}

umapc_status exact_knn_graph_with(const exact_gemm_kernel *kernel, const umapc_metric *metric,
                                  const float *data, size_t n, size_t dim, size_t k,
                                  const umapc_exact_options *opts, const umapc_progress *progress,
                                  umapc_idx *indices, float *distances, umapc_error *err) {
    umapc_status st = check_common(metric, data, n, dim, indices, distances, err);
    if (st == UMAPC_OK) {
        st = check_k(k, n, err);
    }
    if (st != UMAPC_OK) {
        return st;
    }
    if (k == 1) {
        return self_column(n, k, progress, indices, distances, err);
    }
    self_column(n, k, NULL, indices, distances, err);
    search_job job = {kernel,
                      metric,
                      data,
                      n,
                      dim,
                      data,
                      n,
                      k - 1,
                      NULL,
                      1,
                      opts != NULL ? opts->n_threads : 0,
                      progress,
                      indices + 1,
                      distances + 1,
                      k,
                      NULL,
                      NULL};
    return run_search(&job, err);
}

umapc_status umapc_exact_search(const umapc_metric *metric, const float *data, size_t n, size_t dim,
                                const float *queries, size_t nq, size_t k,
                                const uint8_t *filter_mask, const umapc_exact_options *opts,
                                const umapc_progress *progress, umapc_idx *indices,
                                float *distances, umapc_error *err) {
    float *own_data = NULL, *own_queries = NULL;
    const float *rows =
        metric != NULL && data != NULL ? metric_search_rows(metric, data, n, dim, &own_data) : data;
    const float *qrows = rows != NULL && queries != NULL
                             ? metric_search_rows(metric, queries, nq, dim, &own_queries)
                             : queries;
    umapc_status st;
    if ((data != NULL && rows == NULL) || (queries != NULL && qrows == NULL)) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "exact search: cannot normalise the rows");
    } else {
        st = exact_search_with(exact_kernel_select(), metric, rows, n, dim, qrows, nq, k,
                               filter_mask, opts, progress, indices, distances, err);
    }
    free(own_queries);
    free(own_data);
    return st;
}

umapc_status umapc_exact_knn_graph(const umapc_metric *metric, const float *data, size_t n,
                                   size_t dim, size_t k, const umapc_exact_options *opts,
                                   const umapc_progress *progress, umapc_idx *indices,
                                   float *distances, umapc_error *err) {
    float *owned = NULL;
    const float *rows =
        metric != NULL && data != NULL ? metric_search_rows(metric, data, n, dim, &owned) : data;
    umapc_status st =
        data != NULL && rows == NULL
            ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "exact search: cannot normalise the rows")
            : exact_knn_graph_with(exact_kernel_select(), metric, rows, n, dim, k, opts, progress,
                                   indices, distances, err);
    free(owned);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Neighbours from precomputed distances */

/* The m candidates of a row: dense rows list every column, CSR rows their stored entries. */
typedef struct precomputed_row {
    const float *values;
    const umapc_idx *cols; /* NULL: column c is values[c] */
    size_t m;
} precomputed_row;

static umapc_status check_precomputed_row(const precomputed_row *row, size_t r, size_t k,
                                          size_t n_cols, umapc_error *err) {
    if (row->m < k) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "precomputed distances: row %zu has %zu distances, fewer than k = %zu", r,
                          row->m, k);
    }
    for (size_t i = 0; i < row->m; i++) {
        if (!(row->values[i] >= 0.0f)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "precomputed distances: row %zu has a negative or NaN distance", r);
        }
        if (row->cols != NULL && (row->cols[i] < 0 || (size_t)row->cols[i] >= n_cols)) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                              "precomputed distances: row %zu has a column out of range", r);
        }
    }
    return UMAPC_OK;
}

/* The k smallest of a row, in the API's order, +inf (no distance) as index -1 (umap-learn's
 * disconnected neighbour). */
static void select_precomputed(const precomputed_row *row, size_t k, scored *heap,
                               umapc_idx *indices, float *distances) {
    size_t len = 0;
    for (size_t i = 0; i < row->m; i++) {
        umapc_idx c = row->cols != NULL ? row->cols[i] : (umapc_idx)i;
        scored_offer(heap, &len, k, (scored){row->values[i], c});
    }
    write_sorted(heap, len, k, indices, distances);
    for (size_t i = 0; i < k; i++) {
        if (isinf(distances[i])) {
            indices[i] = -1;
        }
    }
}

typedef struct precomputed_job {
    const float *values;
    const int64_t *indptr;
    const umapc_idx *cols;
    size_t n_cols, k;
    umapc_idx *indices;
    float *distances;
} precomputed_job;

static precomputed_row precomputed_row_at(const precomputed_job *pj, size_t r) {
    const int64_t *indptr = pj->indptr;
    precomputed_row row = {pj->values + (indptr ? (size_t)indptr[r] : r * pj->n_cols),
                           indptr ? pj->cols + indptr[r] : NULL,
                           indptr ? (size_t)(indptr[r + 1] - indptr[r]) : pj->n_cols};
    return row;
}

static int precomputed_run(void *ctx, void *scratch, size_t lo, size_t hi) {
    const precomputed_job *pj = ctx;
    scored *heap = scratch;
    for (size_t r = lo; r < hi; r++) {
        precomputed_row row = precomputed_row_at(pj, r);
        select_precomputed(&row, pj->k, heap, pj->indices + r * pj->k, pj->distances + r * pj->k);
    }
    return 0;
}

umapc_status umapc_exact_knn_precomputed(const float *values, const int64_t *indptr,
                                         const umapc_idx *cols, size_t n_rows, size_t n_cols,
                                         size_t k, const umapc_exact_options *opts,
                                         umapc_idx *indices, float *distances, umapc_error *err) {
    if (values == NULL || indices == NULL || distances == NULL || k == 0 || n_cols > INT32_MAX ||
        (indptr != NULL && cols == NULL)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact_knn_precomputed: need distances, outputs and k >= 1");
    }
    if (k > n_cols) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact_knn_precomputed: k = %zu is larger than the %zu columns", k,
                          n_cols);
    }
    precomputed_job pj = {values, indptr, cols, n_cols, k, indices, distances};
    umapc_status st = UMAPC_OK;
    for (size_t r = 0; r < n_rows && !st; r++) {
        precomputed_row row = precomputed_row_at(&pj, r);
        st = check_precomputed_row(&row, r, k, n_cols, err);
    }
    if (st) {
        return st;
    }
    umapc_parallel_loop loop = {.n_items = n_rows,
                                .chunk = 64,
                                .n_threads =
                                    umapc_resolve_threads(opts != NULL ? opts->n_threads : 0),
                                .stage = "exact_knn_precomputed",
                                .ctx = &pj,
                                .scratch_size = umapc_mul_size(k, sizeof(scored)),
                                .body = precomputed_run};
    return umapc_parallel_for(&loop, err);
}

/* ---------------------------------------------------------------------------------------------
 * Sparse rows */

static umapc_status check_sparse(const umapc_metric *metric, const umapc_csr *data,
                                 const umapc_csr *queries, size_t k, umapc_idx *indices,
                                 float *distances, umapc_error *err) {
    if (metric == NULL || data == NULL || queries == NULL || indices == NULL || distances == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact search: metric, data, queries, indices and distances must not "
                          "be NULL");
    }
    if (data->n_rows > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "exact search: %zu rows exceed the int32 index range", data->n_rows);
    }
    umapc_status st = umapc_sparse_check_data(metric, data, err);
    if (st == UMAPC_OK && queries != data) {
        st = umapc_sparse_check_data(metric, queries, err);
    }
    if (st == UMAPC_OK && queries->n_cols != data->n_cols) {
        st = umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                        "exact search: queries have %zu columns, the data %zu", queries->n_cols,
                        data->n_cols);
    }
    return st != UMAPC_OK ? st : check_k(k, data->n_rows, err);
}

/* The direct search of job (its rows, outputs and sizes set) on data and queries prepared here. */
static umapc_status run_sparse(search_job *job, const umapc_csr *data, const umapc_csr *queries,
                               umapc_error *err) {
    int threads = umapc_resolve_threads(job->n_threads);
    sparse_rows rd, rq;
    int failed = sparse_rows_init(&rd, job->metric, data, threads) != 0;
    failed |= queries != data && sparse_rows_init(&rq, job->metric, queries, threads) != 0;
    umapc_status st = UMAPC_OK;
    if (failed) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "exact search: no memory for the rows");
    } else {
        job->sdata = &rd;
        job->squeries = queries != data ? &rq : &rd;
        st = run_search(job, err);
    }
    if (queries != data) {
        sparse_rows_free(&rq);
    }
    sparse_rows_free(&rd);
    return st;
}

umapc_status umapc_exact_search_csr(const umapc_metric *metric, const umapc_csr *data,
                                    const umapc_csr *queries, size_t k, const uint8_t *filter_mask,
                                    const umapc_exact_options *opts, const umapc_progress *progress,
                                    umapc_idx *indices, float *distances, umapc_error *err) {
    umapc_status st = check_sparse(metric, data, queries, k, indices, distances, err);
    if (st != UMAPC_OK || queries->n_rows == 0) {
        return st;
    }
    search_job job = {.metric = metric,
                      .n = data->n_rows,
                      .dim = data->n_cols,
                      .nq = queries->n_rows,
                      .k = k,
                      .mask = filter_mask,
                      .n_threads = opts != NULL ? opts->n_threads : 0,
                      .progress = progress,
                      .indices = indices,
                      .distances = distances,
                      .stride = k};
    return run_sparse(&job, data, queries, err);
}

umapc_status umapc_exact_knn_graph_csr(const umapc_metric *metric, const umapc_csr *data, size_t k,
                                       const umapc_exact_options *opts,
                                       const umapc_progress *progress, umapc_idx *indices,
                                       float *distances, umapc_error *err) {
    umapc_status st = check_sparse(metric, data, data, k, indices, distances, err);
    if (st != UMAPC_OK) {
        return st;
    }
    size_t n = data->n_rows;
    if (k == 1) {
        return self_column(n, k, progress, indices, distances, err);
    }
    self_column(n, k, NULL, indices, distances, err);
    search_job job = {.metric = metric,
                      .n = n,
                      .dim = data->n_cols,
                      .nq = n,
                      .k = k - 1,
                      .self = 1,
                      .n_threads = opts != NULL ? opts->n_threads : 0,
                      .progress = progress,
                      .indices = indices + 1,
                      .distances = distances + 1,
                      .stride = k};
    return run_sparse(&job, data, data, err);
}
