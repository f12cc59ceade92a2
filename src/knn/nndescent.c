/* All-points k-NN graph by NN-descent seeded from random-projection trees. Every phase reads a
 * frozen state and writes what only its owner thread touches, and heaps keep the k smallest
 * (distance, index) pairs whatever order pushes arrive in, so the graph depends on the seed
 * alone, never on the thread count. */
#include "codes.h"
#include "exact_kernels.h"
#include "internal.h"
#include "metric.h"
#include "sparse_rows.h"
#include "umapc/exact.h"
#include "umapc/nndescent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ND_FLAG_OLD      0
#define ND_FLAG_NEW      1
#define ND_FLAG_INSERTED 2 /* new, and pushed during the current iteration */

void umapc_nndescent_options_init(umapc_nndescent_options *opts) {
    opts->n_threads = 0;
    opts->seed = 0;
    opts->n_trees = 0;
    opts->leaf_size = 0;
    opts->max_candidates = 0;
    opts->max_iters = 0;
    opts->delta = 0.001;
    opts->extra = 1;
    opts->min_recall = 0.99;
}

enum { ND_U8, ND_F32, ND_CSR };

typedef struct nd_space {
    int mode;
    size_t dim;
    const float *rows; /* prepared rows */
    /* Points go by internal ids, the leaf order of the first tree, so that neighbours have nearby
     * ids and their heaps and candidate lists share cache lines. Codes and their terms are stored
     * in that order (copied: rows read in nearly that order then stream), float rows stay where
     * they are and internal id i finds its own at map[i] (map NULL: the same ids). */
    const uint32_t *map;
    float *proj; /* n x pdim random projection of the rows: what the trees split */
    size_t pdim;
    uint8_t *codes; /* lossless codes in ND_U8 mode */
    int scaled;     /* the codes are 255 times the rows (pixels / 255): distances re-measured */
    code_l2_fn u8;
    /* ND_U8 with AVX-512 VNNI: all-pairs joins (and the projection for the trees) go through the
     * dot formulation in tiles of up to 4x4 pairs, with the per-row terms (code_row_terms) computed
     * once; NULL elsewhere. */
    code_dot_flip_tile_fn tile;
    int32_t *norm2, *sum128;
    /* ND_F32: the distances of the float rows; metric_surrogate's for the angular metrics, as the
     * graph keeps the distances the search meets (see metric_space_angular). */
    metric_space space;
    /* ND_CSR: the prepared sparse rows, reached like the float rows (through map). */
    sparse_rows csr;
} nd_space;

/* What a search runs on: dense rows in search form (metric_search_rows) or checked sparse rows. */
typedef struct nd_input {
    const float *data;
    const umapc_csr *csr;
    size_t n, dim;
} nd_input;

static inline size_t nd_row_id(const nd_space *s, uint32_t a) {
    return s->map != NULL ? s->map[a] : a;
}

static inline const float *nd_row(const nd_space *s, uint32_t a) {
    return s->rows + nd_row_id(s, a) * s->dim;
}

static inline const uint8_t *nd_code(const nd_space *s, uint32_t a) {
    return s->codes + (size_t)a * s->dim;
}

static inline float nd_dist(const nd_space *s, uint32_t a, uint32_t b) {
    size_t dim = s->dim;
    switch (s->mode) {
    case ND_U8:
        return s->u8(nd_code(s, a), nd_code(s, b), dim);
    case ND_CSR:
        return sparse_rows_surrogate(&s->csr, nd_row_id(s, a), &s->csr, nd_row_id(s, b));
    default:
        return metric_space_dist(&s->space, nd_row(s, a), nd_row(s, b));
    }
}

/* Distances from rows[0..nr) (nr <= 4) to cols[0..nc): out[r * nc + c]. The joins ask for all
 * pairs among a few dozen rows, which the VNNI tiles compute at a fraction of the per-pair cost;
 * both ways give the same exact integers in ND_U8 mode. */
static void nd_dist_block(const nd_space *s, const uint32_t *rows, size_t nr, const uint32_t *cols,
                          size_t nc, float *out, float *probe_buf) {
    if (s->mode == ND_CSR) {
        for (size_t r = 0; r < nr; r++) {
            sparse_probe probe;
            sparse_probe_load(&probe, &s->csr, nd_row_id(s, rows[r]), probe_buf);
            for (size_t c = 0; c < nc; c++) {
                out[r * nc + c] = sparse_probe_surrogate(&probe, &s->csr, nd_row_id(s, cols[c]));
            }
            sparse_probe_unload(&probe);
        }
        return;
    }
    if (s->tile == NULL) {
        for (size_t r = 0; r < nr; r++) {
            for (size_t c = 0; c < nc; c++) {
                out[r * nc + c] = nd_dist(s, rows[r], cols[c]);
            }
        }
        return;
    }
    size_t dim = s->dim;
    const uint8_t *fr[4] = {NULL, NULL, NULL, NULL}, *pc[4] = {NULL, NULL, NULL, NULL};
    for (size_t r = 0; r < nr; r++) {
        fr[r] = nd_code(s, rows[r]);
    }
    for (size_t c0 = 0; c0 < nc; c0 += 4) {
        size_t w = nc - c0 < 4 ? nc - c0 : 4;
        for (size_t c = 0; c < w; c++) {
            pc[c] = nd_code(s, cols[c0 + c]);
        }
        int32_t dots[16];
        s->tile(fr, nr, pc, w, dim, dots);
        for (size_t r = 0; r < nr; r++) {
            for (size_t c = 0; c < w; c++) {
                uint32_t a = rows[r], b = cols[c0 + c];
                out[r * nc + c0 + c] =
                    code_l2_from_dot(s->norm2[b], s->norm2[a], s->sum128[b], dots[r * 4 + c]);
            }
        }
    }
}

/* ---- neighbour heaps: per point K slots, a max-heap on (distance, index) ---- */

typedef struct nd_heaps {
    size_t K;
    int32_t *idx;
    float *d;
    uint8_t *flag;
    float *top; /* d[0] of every heap, packed: the unlocked filter of pushes reads it */
} nd_heaps;

/* Bitwise, not logical, operators: heaps compare unpredictable pairs, and setcc beats branches. */
static inline int nd_after(float da, int32_t ia, float db, int32_t ib) {
    return (da > db) | ((da == db) & (ia > ib));
}

/* Puts (j, dj, flag) at pos of a max-heap of m entries whose children of pos are heaps. */
static void sift_down(int32_t *idx, float *d, uint8_t *fl, size_t m, size_t pos, int32_t j,
                      float dj, uint8_t flag) {
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= m) {
            break;
        }
        if (c + 1 < m) {
            c += (size_t)nd_after(d[c + 1], idx[c + 1], d[c], idx[c]);
        }
        if (!nd_after(d[c], idx[c], dj, j)) {
            break;
        }
        __atomic_store_n(&idx[pos], idx[c], __ATOMIC_RELAXED); /* heap_seen reads it unlocked */
        d[pos] = d[c];
        fl[pos] = fl[c];
        pos = c;
    }
    __atomic_store_n(&idx[pos], j, __ATOMIC_RELAXED);
    d[pos] = dj;
    fl[pos] = flag;
}

/* Whether j is among idx[0..m): without an early exit, so that the compiler vectorises it (the
 * branch of the early exit mispredicts about once a call anyway). */
static inline int contains(const int32_t *idx, size_t m, int32_t j) {
    int found = 0;
    for (size_t s = 0; s < m; s++) {
        found |= idx[s] == j;
    }
    return found;
}

/* Pushes (j, dj) into the heap of p unless it is no better than the worst kept or already there;
 * returns whether it went in. */
static int heap_push(const nd_heaps *h, size_t p, int32_t j, float dj, uint8_t flag) {
    size_t K = h->K;
    int32_t *idx = h->idx + p * K;
    float *d = h->d + p * K;
    uint8_t *fl = h->flag + p * K;
    if (!nd_after(d[0], idx[0], dj, j)) {
        return 0;
    }
    if (contains(idx, K, j)) {
        return 0;
    }
    sift_down(idx, d, fl, K, 0, j, dj, flag);
    __atomic_store(&h->top[p], &d[0], __ATOMIC_RELAXED); /* heap_top reads it unlocked */
    return 1;
}

static int heaps_alloc(nd_heaps *h, size_t n, size_t K) {
    h->K = K;
    h->idx = malloc(umapc_mul_size(n * sizeof(int32_t), K));
    h->d = malloc(umapc_mul_size(n * sizeof(float), K));
    h->flag = malloc(umapc_mul_size(n, K));
    h->top = malloc(umapc_mul_size(n, sizeof(float)));
    if (h->idx == NULL || h->d == NULL || h->flag == NULL || h->top == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        h->top[i] = INFINITY;
    }
    for (size_t s = 0; s < n * K; s++) {
        h->idx[s] = -1;
        h->d[s] = INFINITY;
        h->flag[s] = ND_FLAG_NEW;
    }
    return 0;
}

static void heaps_free(nd_heaps *h) {
    free(h->idx);
    free(h->d);
    free(h->flag);
    free(h->top);
}

/* ---- space: prepared rows, and lossless 8-bit codes for pixel-like euclidean data ---- */

/* Codes of the rows as x - lo, and the row terms where the tiles use them. */
static void codes_shifted(nd_space *s, const float *x, size_t n, const float *lo, int threads) {
    size_t dim = s->dim;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < dim; c++) {
            s->codes[i * dim + c] = (uint8_t)(x[i * dim + c] - lo[c]);
        }
        if (s->norm2 != NULL) {
            code_row_terms(s->codes + i * dim, dim, &s->norm2[i], &s->sum128[i]);
        }
    }
}

/* Codes of every row by conv (pixels as they are, or pixels / 255 as the pixels), with the row
 * terms, in one pass over the floats instead of the two that the column minima take. Returns
 * whether every row was such; most other data shows it in its first row. */
static int codes_by(nd_space *s, const float *x, size_t n, int threads, code_from_floats_fn conv) {
    size_t dim = s->dim;
    if (!conv(x, dim, s->codes, NULL, NULL)) {
        return 0;
    }
    int ok = 1;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(& : ok)
    for (size_t i = 0; i < n; i++) {
        int32_t *n2 = s->norm2 != NULL ? &s->norm2[i] : NULL;
        int32_t *s128 = s->sum128 != NULL ? &s->sum128[i] : NULL;
        ok &= conv(x + i * dim, dim, s->codes + i * dim, n2, s128);
    }
    return ok;
}

/* Codes as x - min(column) when every value is an integer and every column spans at most 255;
 * returns whether they were. */
static int codes_from_ranges(nd_space *s, const float *x, size_t n, int threads, int *integral) {
    size_t dim = s->dim;
    float *lo = malloc(dim * sizeof *lo), *hi = malloc(dim * sizeof *hi);
    if (lo == NULL || hi == NULL) {
        free(lo);
        free(hi);
        return -1;
    }
    *integral = code_column_ranges(x, n, dim, dim, threads, lo, hi);
    if (*integral < 0) {
        free(lo);
        free(hi);
        return -1;
    }
    for (size_t c = 0; c < dim && *integral; c++) {
        *integral = hi[c] - lo[c] <= 255.0f;
    }
    if (*integral) {
        codes_shifted(s, x, n, lo, threads);
    }
    free(lo);
    free(hi);
    return 0;
}

/* Integer data whose every column spans at most 255 codes exactly (shifted by the column minima
 * where needed): squared differences stay the same integers, at a quarter of the memory traffic.
 * Where the CPU has VNNI, the row terms of the tiled dot formulation come along. */
static int build_codes(nd_space *s, const float *x, size_t n, int threads) {
    size_t dim = s->dim;
    if (dim > CODE_MAX_DIM) {
        return 0;
    }
    code_dot_flip_tile_fn tile = code_dot_flip_tile_select();
    s->codes = umapc_aligned_alloc(n, dim);
    if (tile != NULL) {
        s->norm2 = umapc_aligned_alloc(n, sizeof(int32_t));
        s->sum128 = umapc_aligned_alloc(n, sizeof(int32_t));
    }
    if (s->codes == NULL || (tile != NULL && (s->norm2 == NULL || s->sum128 == NULL))) {
        return -1;
    }
    int integral = codes_by(s, x, n, threads, code_from_floats_select());
    if (!integral && codes_from_ranges(s, x, n, threads, &integral) != 0) {
        return -1;
    }
    if (!integral && codes_by(s, x, n, threads, code_from_scaled_floats)) {
        integral = 1;
        s->scaled = 1;
    }
    if (!integral) {
        umapc_aligned_free(s->codes);
        umapc_aligned_free(s->norm2);
        umapc_aligned_free(s->sum128);
        s->codes = NULL;
        s->norm2 = s->sum128 = NULL;
        return 0;
    }
    s->mode = ND_U8;
    s->u8 = code_l2_select();
    s->tile = tile;
    return 0;
}

/* Fills s; *owned receives prepared rows that s points at and the caller frees (NULL when the
 * data is used as given). */
static int space_init(nd_space *s, const umapc_metric *metric, const nd_input *in, int threads,
                      float **owned) {
    size_t n = in->n, dim = in->dim;
    const float *x = in->data;
    memset(s, 0, sizeof *s);
    metric_space_init(&s->space, metric, dim, METRIC_SPACE_ANGULAR_EXACT);
    s->dim = dim;
    s->rows = x;
    *owned = NULL;
    if (in->csr != NULL) {
        s->mode = ND_CSR;
        return sparse_rows_init(&s->csr, metric, in->csr, threads);
    }
    s->mode = ND_F32;
    if (s->space.plan.prep != METRIC_PREP_NONE) {
        float *p = malloc(umapc_mul_size(n * sizeof(float), dim));
        if (p == NULL) {
            return -1;
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) {
            metric_prepare_row(&s->space.plan, x + i * dim, p + i * dim, dim);
        }
        s->rows = *owned = p;
    }
    return s->space.mode == METRIC_SPACE_SQL2 ? build_codes(s, x, n, threads) : 0;
}

/* ---- random-projection forest ---- */

typedef struct nd_forest {
    size_t trees, n;
    uint32_t *perm; /* trees x n: points in leaf order */
    uint32_t *end;  /* trees x n: where the leaf holding position p of perm ends */
} nd_forest;

/* GCC takes a function that only prefetches for one without effects and drops its calls, unless
 * it is inlined first. */
#define ND_PREFETCH static inline __attribute__((always_inline))

#define ND_SPLIT_AHEAD 6
ND_PREFETCH void prefetch_proj(const nd_space *s, uint32_t p) {
    const char *row = (const char *)(s->proj + (size_t)p * s->pdim);
    for (size_t b = 0; b < s->pdim * sizeof(float); b += 64) {
        __builtin_prefetch(row + b);
    }
}

/* Splits perm[lo, hi) by the hyperplane halfway between two random members (in the projected
 * space), keeping the order within each side; returns the split point, or the middle when the
 * plane leaves one side empty (duplicates). tmp holds hi - lo entries. */
static size_t split_node(const nd_space *s, uint32_t *perm, size_t lo, size_t hi, uint64_t seed,
                         uint64_t stream, float *normal, uint32_t *tmp) {
    size_t m = hi - lo, dim = s->pdim;
    size_t ra = umapc_rand_at(seed, stream, 0) % m, rb = umapc_rand_at(seed, stream, 1) % (m - 1);
    uint32_t a = perm[lo + ra], b = perm[lo + (ra + 1 + rb) % m];
    const float *xa = s->proj + (size_t)a * dim, *xb = s->proj + (size_t)b * dim;
    for (size_t c = 0; c < dim; c++) {
        normal[c] = xa[c] - xb[c];
    }
    umapc_kernel_fn dot = s->space.plan.kernels->dot;
    float offset = 0.5f * (dot(xa, xa, dim) - dot(xb, xb, dim));
    /* Both sides are written at every step, and the cursors advance by the outcome: no branch
     * on it, which would mispredict half the time. The left side goes back in place (its cursor
     * never passes the reads), the right side to tmp. */
    size_t left = lo, right = 0;
    for (size_t i = lo; i < hi; i++) {
        if (i + ND_SPLIT_AHEAD < hi) {
            prefetch_proj(s, perm[i + ND_SPLIT_AHEAD]);
        }
        uint32_t p = perm[i];
        size_t up = dot(normal, s->proj + (size_t)p * dim, dim) > offset;
        perm[left] = p;
        tmp[right] = p;
        left += up;
        right += 1 - up;
    }
    memcpy(perm + left, tmp, right * sizeof *perm);
    return (left == lo || left == hi) ? lo + m / 2 : left;
}

/* The projection of the codes (the rows shifted by their column minima, which moves no hyperplane)
 * in exact integers: the +-1 (or 0/1) directions are stored as 128 + r, the flipped operand of the
 * VNNI tiles, so each 4x4 tile gives 4 directions of 4 rows. */
static int project_codes(nd_space *s, size_t n, const float *r, int threads) {
    size_t dim = s->dim, pd = s->pdim;
    uint8_t *dirs = malloc(umapc_mul_size(pd, dim));
    if (dirs == NULL) {
        return -1;
    }
    for (size_t e = 0; e < pd * dim; e++) {
        dirs[e] = (uint8_t)(128 + (int)r[e]);
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i0 = 0; i0 < n; i0 += 4) {
        const uint8_t *rows[4] = {NULL, NULL, NULL, NULL}, *dr[4] = {NULL, NULL, NULL, NULL};
        size_t nr = n - i0 < 4 ? n - i0 : 4;
        int32_t out[16];
        for (size_t c = 0; c < nr; c++) {
            rows[c] = s->codes + (i0 + c) * dim;
        }
        for (size_t c0 = 0; c0 < pd; c0 += 4) {
            size_t nd = pd - c0 < 4 ? pd - c0 : 4;
            for (size_t q = 0; q < nd; q++) {
                dr[q] = dirs + (c0 + q) * dim;
            }
            s->tile(dr, nd, rows, nr, dim, out);
            for (size_t c = 0; c < nr; c++) {
                for (size_t q = 0; q < nd; q++) {
                    s->proj[(i0 + c) * pd + c0 + q] = (float)out[q * 4 + c];
                }
            }
        }
    }
    free(dirs);
    return 0;
}

/* Entry e (direction e / dim, coordinate e % dim) of the trees' random projection: +1 or -1. */
static inline int direction_sign(uint64_t seed, size_t e) {
    return (int)(umapc_rand_at(seed, 5, e) & 1);
}

/* The projection of sparse rows on the same directions as dense ones (direction_sign), packed
 * into one word of sign bits per coordinate, so each stored entry costs pdim additions and the
 * pdim x dim directions of a wide vocabulary are never stored as floats. */
static int project_sparse(nd_space *s, size_t n, uint64_t seed, int threads) {
    size_t dim = s->dim, pd = s->pdim;
    uint64_t *signs = NULL;
    if (pd < dim) {
        signs = calloc(dim, sizeof *signs);
        if (signs == NULL) {
            return -1;
        }
        for (size_t c = 0; c < pd; c++) {
            for (size_t d = 0; d < dim; d++) {
                signs[d] |= (uint64_t)direction_sign(seed, c * dim + d) << c;
            }
        }
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        sparse_rows_project(&s->csr, i, signs, pd, s->proj + i * pd);
    }
    free(signs);
    return 0;
}

/* Trees split a random projection of the rows to at most ND_PROJ dimensions: hyperplanes there are
 * hyperplanes of the full space too, and each level of each tree then streams a small fraction of
 * the bytes. */
#define ND_PROJ 64
static int build_projection(nd_space *s, size_t n, uint64_t seed, int threads) {
    size_t dim = s->dim, pd = dim < ND_PROJ ? dim : ND_PROJ;
    s->proj = malloc(umapc_mul_size(n * sizeof(float), pd));
    s->pdim = pd;
    if (s->mode == ND_CSR || s->proj == NULL) {
        return s->proj == NULL ? -1 : project_sparse(s, n, seed, threads);
    }
    float *r = malloc(umapc_mul_size(pd * sizeof(float), dim));
    if (r == NULL) {
        return -1;
    }
    for (size_t e = 0; e < pd * dim; e++) {
        r[e] = pd == dim ? (e / dim == e % dim ? 1.0f : 0.0f)
                         : (direction_sign(seed, e) ? 1.0f : -1.0f);
    }
    int failed = 0;
    if (s->tile != NULL) {
        failed = project_codes(s, n, r, threads);
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) {
            for (size_t c = 0; c < pd; c++) {
                s->proj[i * pd + c] =
                    s->space.plan.kernels->dot(s->rows + i * dim, r + c * dim, dim);
            }
        }
    }
    free(r);
    return failed;
}

static int build_tree(const nd_space *s, nd_forest *f, size_t t, size_t leaf, uint64_t seed) {
    size_t n = f->n, top = 0, node = 0;
    uint32_t *perm = f->perm + t * n;
    size_t *stack = malloc(2 * 64 * 2 * sizeof *stack + 2 * n * sizeof *stack);
    float *normal = malloc(s->pdim * sizeof *normal);
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (stack == NULL || normal == NULL || tmp == NULL) {
        free(stack);
        free(normal);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        perm[i] = (uint32_t)i;
    }
    stack[top++] = 0;
    stack[top++] = n;
    while (top > 0) {
        size_t hi = stack[--top], lo = stack[--top];
        if (hi - lo <= leaf) {
            for (size_t p = lo; p < hi; p++) {
                f->end[t * n + p] = (uint32_t)hi;
            }
            continue;
        }
        uint64_t stream = ((uint64_t)t << 40) ^ (uint64_t)node++;
        size_t mid = split_node(s, perm, lo, hi, seed, stream, normal, tmp);
        stack[top++] = lo;
        stack[top++] = mid;
        stack[top++] = mid;
        stack[top++] = hi;
    }
    free(stack);
    free(normal);
    free(tmp);
    return 0;
}

/* Returns -1 when out of memory, 1 when progress asked to stop (looked at after each tree thread
 * 0 builds). */
static int forest_build(const nd_space *s, nd_forest *f, size_t n, size_t trees, size_t leaf,
                        uint64_t seed, int threads, const umapc_progress *progress) {
    f->trees = trees;
    f->n = n;
    f->perm = malloc(umapc_mul_size(trees * n, sizeof(uint32_t)));
    f->end = malloc(umapc_mul_size(trees * n, sizeof(uint32_t)));
    if (f->perm == NULL || f->end == NULL) {
        return -1;
    }
    int failed = 0, stop = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) reduction(| : failed)
    for (size_t t = 0; t < trees; t++) {
        int halt;
#pragma omp atomic read
        halt = stop;
        if (halt) {
            continue;
        }
        failed |= build_tree(s, f, t, leaf, seed) != 0;
        if (umapc_thread_id() == 0 &&
            umapc_progress_report(progress, "nndescent trees", 0, trees)) {
#pragma omp atomic write
            stop = 1;
        }
    }
    return failed ? -1 : (stop ? 1 : 0);
}

static void forest_free(nd_forest *f) {
    free(f->perm);
    free(f->end);
}

/* Pushes (j, d) into the heap of p when d passes *top, a copy of its heap top, and refreshes it. */
static inline void filtered_push(const nd_heaps *h, size_t p, int32_t j, float d, float *top) {
    if (d <= *top) {
        heap_push(h, p, j, d, ND_FLAG_NEW);
        *top = h->top[p];
    }
}

/* All pairs of one leaf into both ends' heaps; a point lies in one leaf per tree, so the leaves
 * of a tree touch disjoint heaps. Most pairs fail the heap tops once the first trees are in:
 * local copies of those filter them without reading the heaps. buf holds 5 * m floats. */
static void join_leaf(const nd_space *s, const nd_heaps *h, const uint32_t *pts, size_t m,
                      float *buf, float *probe_buf) {
    float *top = buf + 4 * m;
    for (size_t x = 0; x < m; x++) {
        top[x] = h->top[pts[x]];
    }
    for (size_t a0 = 0; a0 + 1 < m; a0 += 4) {
        size_t nr = m - 1 - a0 < 4 ? m - 1 - a0 : 4, nc = m - a0 - 1;
        nd_dist_block(s, pts + a0, nr, pts + a0 + 1, nc, buf, probe_buf);
        for (size_t r = 0; r < nr; r++) {
            uint32_t p = pts[a0 + r];
            for (size_t c = r; c < nc; c++) { /* column c is point a0 + 1 + c */
                uint32_t q = pts[a0 + 1 + c];
                float d = buf[r * nc + c];
                filtered_push(h, p, (int32_t)q, d, &top[a0 + r]);
                filtered_push(h, q, (int32_t)p, d, &top[a0 + 1 + c]);
            }
        }
    }
}

/* Random points into heaps that the leaves left with empty slots (tiny or duplicate-heavy data). */
static void fill_random(const nd_space *s, const nd_heaps *h, size_t n, size_t i, uint64_t seed) {
    for (size_t r = 0; h->idx[i * h->K] < 0 && r < 4 * h->K; r++) {
        uint32_t j = (uint32_t)(umapc_rand_at(seed, 3, i * 4 * h->K + r) % n);
        if (j != i) {
            heap_push(h, i, (int32_t)j, nd_dist(s, (uint32_t)i, j), ND_FLAG_NEW);
        }
    }
}

/* ---- NN-descent ---- */

typedef struct nd_cands {
    size_t mc;
    int32_t *idx; /* n x mc */
    uint32_t *prio;
    uint32_t *count;
} nd_cands;

/* Whether (pa, ja) comes after (pb, jb): candidate lists are max-heaps on it. */
static inline int cand_after(uint32_t pa, int32_t ja, uint32_t pb, int32_t jb) {
    return (pa > pb) | ((pa == pb) & (ja > jb));
}

/* Puts (j, pr) at pos of a max-heap of m entries whose children of pos are heaps. */
static void cand_sift_down(int32_t *idx, uint32_t *prio, size_t m, size_t pos, int32_t j,
                           uint32_t pr) {
    for (;;) {
        size_t ch = 2 * pos + 1;
        if (ch >= m) {
            break;
        }
        if (ch + 1 < m) {
            ch += (size_t)cand_after(prio[ch + 1], idx[ch + 1], prio[ch], idx[ch]);
        }
        if (!cand_after(prio[ch], idx[ch], pr, j)) {
            break;
        }
        idx[pos] = idx[ch];
        prio[pos] = prio[ch];
        pos = ch;
    }
    idx[pos] = j;
    prio[pos] = pr;
}

/* Keeps the mc members of lowest (priority, index): a random sample of fixed size whatever order
 * members arrive in. Most lists never fill: until they do, members are appended, and the heap is
 * built once they fill. */
static void cand_push(const nd_cands *c, size_t p, int32_t j, uint32_t pr) {
    size_t mc = c->mc, cnt = c->count[p];
    int32_t *idx = c->idx + p * mc;
    uint32_t *prio = c->prio + p * mc;
    if (cnt == mc && !cand_after(prio[0], idx[0], pr, j)) {
        return;
    }
    if (contains(idx, cnt, j)) {
        return;
    }
    if (cnt < mc) {
        idx[cnt] = j;
        prio[cnt] = pr;
        c->count[p] = (uint32_t)(cnt + 1);
        for (size_t q = mc / 2; cnt + 1 == mc && q-- > 0;) {
            cand_sift_down(idx, prio, mc, q, idx[q], prio[q]);
        }
        return;
    }
    cand_sift_down(idx, prio, mc, 0, j, pr);
}

/* Per-point spin locks: pushes into one heap during local joins are serialised, and since a
 * heap keeps the smallest (distance, index) pairs pushed whatever their order, the result does not
 * depend on which thread gets there first. */
static inline void nd_lock(uint8_t *locks, size_t p) {
    while (__atomic_test_and_set(&locks[p], __ATOMIC_ACQUIRE)) {
    }
}

static inline void nd_unlock(uint8_t *locks, size_t p) {
    __atomic_clear(&locks[p], __ATOMIC_RELEASE);
}

/* The worst distance kept by p, read without the lock: it only decreases, so a stale value lets
 * through a push that the locked check then rejects, never the reverse. */
static inline float heap_top(const nd_heaps *h, size_t p) {
    float v;
    __atomic_load(&h->top[p], &v, __ATOMIC_RELAXED);
    return v;
}

/* Whether j shows in the heap of p, read without the lock. Most pushes that pass the distance
 * filter are of neighbours already kept, and this check, unlike the lock, lets their cache misses
 * overlap. A j seen was in the heap at some time, and then a push of (j, d(p, j)) is rejected now
 * and ever after (it is there, or k better ones pushed it out), so skipping it changes nothing. */
static inline int heap_seen(const nd_heaps *h, size_t p, int32_t j) {
    size_t K = h->K; /* a local: atomic loads make the compiler reload fields after each */
    const int32_t *idx = h->idx + p * K;
    int found = 0;
    for (size_t s = 0; s < K; s++) {
        found |= __atomic_load_n(&idx[s], __ATOMIC_RELAXED) == j;
    }
    return found;
}

/* Pushes (j, d) into the heap of p when d passes the filter *top (a stale copy of p's heap top,
 * refreshed here). */
static inline void locked_push(const nd_heaps *h, uint8_t *locks, size_t p, int32_t j, float d,
                               float *top) {
    if (d <= *top && !heap_seen(h, p, j)) {
        nd_lock(locks, p);
        heap_push(h, p, j, d, ND_FLAG_INSERTED);
        *top = h->top[p];
        nd_unlock(locks, p);
    }
}

/* Reverse pushes land in random lists: their lines are fetched a few points ahead so that the
 * misses overlap. */
#define ND_AHEAD 4
ND_PREFETCH void prefetch_list(const nd_cands *c, size_t j) {
    const int32_t *idx = c->idx + j * c->mc;
    __builtin_prefetch(&c->count[j]);
    __builtin_prefetch(c->prio + j * c->mc);
    for (size_t s = 0; s < c->mc; s += 16) {
        __builtin_prefetch(idx + s);
    }
}

/* The lists of the neighbours of i that pass scan_edges pushes into (those in [lo, hi) of the
 * class asked for). */
ND_PREFETCH void prefetch_reverse(const nd_heaps *h, const nd_cands *c, size_t i, int old,
                                  size_t lo, size_t hi) {
    for (size_t s = 0; s < h->K; s++) {
        int32_t j = h->idx[i * h->K + s];
        if (j >= 0 && (size_t)j >= lo && (size_t)j < hi &&
            (h->flag[i * h->K + s] == ND_FLAG_OLD) == old) {
            prefetch_list(c, (size_t)j);
        }
    }
}

/* One pass over all edges of one class (new, or old) into the lists c of points in [lo, hi), both
 * ways. Old candidates only join with new ones, so with `old` only points that have new
 * candidates get any: most points in later iterations have none. */
static void scan_edges(const nd_heaps *h, const nd_cands *c, const nd_cands *cn, size_t n,
                       uint64_t key, int old, size_t lo, size_t hi) {
    size_t K = h->K;
    for (size_t i = 0; i < n; i++) {
        if (i + ND_AHEAD < n) {
            prefetch_reverse(h, c, i + ND_AHEAD, old, lo, hi);
        }
        int own_i = i >= lo && i < hi && (!old || cn->count[i] > 0);
        for (size_t s = 0; s < K; s++) {
            int32_t j = h->idx[i * K + s];
            if (j < 0 || (h->flag[i * K + s] == ND_FLAG_OLD) != old) {
                continue;
            }
            int own_j = (size_t)j >= lo && (size_t)j < hi && (!old || cn->count[j] > 0);
            if (!(own_i || own_j)) {
                continue;
            }
            size_t a = i < (size_t)j ? i : (size_t)j, b = i < (size_t)j ? (size_t)j : i;
            uint32_t pr = (uint32_t)umapc_hash64(key ^ (a * n + b));
            if (own_i) {
                cand_push(c, i, j, pr);
            }
            if (own_j) {
                cand_push(c, (size_t)j, (int32_t)i, pr);
            }
        }
    }
}

/* Samples new and old candidates (neighbours and reverse neighbours) of every point, then marks
 * the sampled new neighbours old. Each thread scans all edges but fills only the lists of its own
 * range of points: no locks, whose fences would serialise the cache misses of the pushes. */
static void build_candidates(const nd_heaps *h, const nd_cands *cn, const nd_cands *co, size_t n,
                             uint64_t seed, uint64_t iter, int threads) {
    size_t K = h->K;
    uint64_t key = umapc_rand_at(seed, 16, iter); /* one hash per edge below, not three */
#pragma omp parallel num_threads(threads)
    {
        size_t t = (size_t)umapc_thread_id(), nt = (size_t)umapc_team_size();
        size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        for (size_t p = lo; p < hi; p++) {
            cn->count[p] = co->count[p] = 0;
        }
        scan_edges(h, cn, cn, n, key, 0, lo, hi);
        scan_edges(h, co, cn, n, key, 1, lo, hi); /* reads the counts of its own range only */
#pragma omp barrier
#pragma omp for schedule(dynamic, 256)
        for (size_t i = 0; i < n; i++) {
            for (size_t s = 0; s < K; s++) {
                if (h->flag[i * K + s] != ND_FLAG_OLD &&
                    contains(cn->idx + i * cn->mc, cn->count[i], h->idx[i * K + s])) {
                    h->flag[i * K + s] = ND_FLAG_OLD;
                }
            }
        }
    }
}

/* Scratch of one thread for local joins: the candidates of a point, their heap tops, and a
 * 4-row block of their distances. */
typedef struct nd_scratch {
    uint32_t *pts;
    float *top;
    float *dist;
    float *probe; /* sparse rows: the dense row of sparse_probe_buffer */
} nd_scratch;

/* A probe buffer for sparse rows whose metric gathers, else NULL; -1 when out of memory. */
static int probe_alloc(const nd_space *s, float **buf) {
    int failed = 0;
    *buf = s->mode == ND_CSR ? sparse_probe_buffer(&s->csr, &failed) : NULL;
    return failed ? -1 : 0;
}

static int scratch_alloc(nd_scratch *w, const nd_space *s, size_t m) {
    w->pts = malloc(umapc_mul_size(m, sizeof(uint32_t)));
    w->top = malloc(umapc_mul_size(m, sizeof(float)));
    w->dist = malloc(umapc_mul_size(4 * sizeof(float), m));
    int failed = probe_alloc(s, &w->probe);
    return w->pts && w->top && w->dist && !failed ? 0 : -1;
}

static void scratch_free(nd_scratch *w) {
    free(w->pts);
    free(w->top);
    free(w->dist);
    free(w->probe);
}

/* The neighbour list of p, which heap_seen scans. */
ND_PREFETCH void prefetch_heap(const nd_heaps *h, size_t p) {
    size_t K = h->K;
    __builtin_prefetch(h->idx + p * K);
    __builtin_prefetch(h->idx + p * K + K - 1);
}

ND_PREFETCH void prefetch_row(const nd_space *s, size_t p) {
    if (s->tile != NULL) { /* into L2: the rows of one join do not fit L1 */
        const uint8_t *row = nd_code(s, (uint32_t)p);
        for (size_t b = 0; b < s->dim; b += 64) {
            __builtin_prefetch(row + b, 0, 2);
        }
    }
}

/* The heaps and rows of the candidates of point i, which its local join reads: fetched while the
 * join of the point before computes distances. */
ND_PREFETCH void prefetch_join(const nd_space *s, const nd_heaps *h, const nd_cands *cn,
                               const nd_cands *co, size_t i) {
    for (size_t x = 0; x < cn->count[i]; x++) {
        prefetch_heap(h, (size_t)cn->idx[i * cn->mc + x]);
        prefetch_row(s, (size_t)cn->idx[i * cn->mc + x]);
    }
    for (size_t x = 0; x < co->count[i]; x++) {
        prefetch_heap(h, (size_t)co->idx[i * co->mc + x]);
        prefetch_row(s, (size_t)co->idx[i * co->mc + x]);
    }
}

/* Local join of point i: every new-new and new-old pair of its candidates, pushed into both ends'
 * heaps. The set of pairs depends only on the candidates, so the outcome does not depend on the
 * timing of other threads' pushes either (the heap tops read here only filter pushes early). */
static void local_join(const nd_space *s, const nd_heaps *h, const nd_cands *cn, const nd_cands *co,
                       uint8_t *locks, size_t i, nd_scratch *w) {
    size_t nn = cn->count[i], no = co->count[i], m = nn + no;
    const int32_t *nw = cn->idx + i * cn->mc, *ol = co->idx + i * co->mc;
    for (size_t x = 0; x < m; x++) {
        w->pts[x] = (uint32_t)(x < nn ? nw[x] : ol[x - nn]);
        w->top[x] = heap_top(h, w->pts[x]);
    }
    for (size_t x0 = 0; x0 < nn && x0 + 1 < m; x0 += 4) {
        size_t nr = nn - x0 < 4 ? nn - x0 : 4, nc = m - x0 - 1;
        nd_dist_block(s, w->pts + x0, nr, w->pts + x0 + 1, nc, w->dist, w->probe);
        for (size_t r = 0; r < nr; r++) {
            uint32_t p = w->pts[x0 + r];
            for (size_t c = r; c < nc; c++) { /* column c is candidate x0 + 1 + c */
                uint32_t q = w->pts[x0 + 1 + c];
                float d = w->dist[r * nc + c];
                if (q != p) {
                    locked_push(h, locks, p, (int32_t)q, d, &w->top[x0 + r]);
                    locked_push(h, locks, q, (int32_t)p, d, &w->top[x0 + 1 + c]);
                }
            }
        }
    }
}

/* Entries pushed this iteration (counted once the order of pushes no longer matters). */
static size_t count_inserted(const nd_heaps *h, size_t n, int threads) {
    size_t total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
    for (size_t s = 0; s < n * h->K; s++) {
        if (h->flag[s] == ND_FLAG_INSERTED) {
            h->flag[s] = ND_FLAG_NEW;
            total++;
        }
    }
    return total;
}

/* One iteration: sample candidates, join them; *changed receives the number of heap entries that
 * changed. Points are joined in the order of their ids, the leaf order of a tree: points joined
 * one after another then share many candidates, whose rows are still in cache. Returns -1 when out
 * of memory. */
/* Points thread 0 joins between two looks at progress->fn (which checks for Ctrl-C): an iteration
 * over a million points takes seconds. */
#define ND_CHECK_EVERY 256

/* Whether the caller asked to stop, looked at by thread 0 every ND_CHECK_EVERY calls (*count
 * counts them) and shared through *stop with the other threads. */
static int nd_should_stop(const umapc_progress *progress, const char *stage, size_t done,
                          size_t total, size_t *count, int *stop) {
    int halt;
    if (umapc_thread_id() == 0 && ++*count % ND_CHECK_EVERY == 0 &&
        umapc_progress_report(progress, stage, done, total)) {
#pragma omp atomic write
        *stop = 1;
    }
#pragma omp atomic read
    halt = *stop;
    return halt;
}

/* One iteration: sample candidates, join them; *changed receives the number of heap entries that
 * changed. Points are joined in the order of their ids, the leaf order of a tree: points joined
 * one after another then share many candidates, whose rows are still in cache. Returns -1 when out
 * of memory, 1 when progress asked to stop (reported as iteration `iter` of `iters`). */
static int nd_iteration(const nd_space *s, const nd_heaps *h, const nd_cands *cn,
                        const nd_cands *co, uint8_t *locks, size_t n, uint64_t seed, uint64_t iter,
                        size_t iters, int threads, const umapc_progress *progress,
                        size_t *changed) {
    build_candidates(h, cn, co, n, seed, iter, threads);
    int failed = 0, stop = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        nd_scratch w;
        size_t count = 0;
        failed = scratch_alloc(&w, s, cn->mc + co->mc) != 0;
#pragma omp for schedule(dynamic, 32)
        for (size_t i = 0; i < n; i++) {
            if (nd_should_stop(progress, "nndescent", (size_t)iter, iters, &count, &stop)) {
                continue;
            }
            if (i + 1 < n) {
                prefetch_join(s, h, cn, co, i + 1);
            }
            if (!failed) {
                local_join(s, h, cn, co, locks, i, &w);
            }
        }
        scratch_free(&w);
    }
    if (failed) {
        return -1;
    }
    if (stop) {
        return 1;
    }
    *changed = count_inserted(h, n, threads);
    return 0;
}

/* ---- driver ---- */

typedef struct nd_params {
    size_t K, trees, leaf, mc, iters;
    double delta;
    uint64_t seed;
    int threads;
} nd_params;

static void resolve_params(nd_params *p, const umapc_nndescent_options *o, size_t n, size_t k) {
    p->K = k - 1 + o->extra;
    if (p->K > n - 1) {
        p->K = n - 1;
    }
    size_t auto_trees = 4 + (size_t)(sqrt((double)n) / 40.0);
    p->trees = o->n_trees ? o->n_trees : (auto_trees < 12 ? auto_trees : 12);
    p->leaf = o->leaf_size ? o->leaf_size : (2 * k > 24 ? 2 * k : 24);
    p->mc = o->max_candidates ? o->max_candidates : (2 * k > 20 ? 2 * k : 20);
    p->iters = o->max_iters ? o->max_iters : (size_t)fmax(5.0, round(log2((double)n)));
    p->delta = o->delta;
    p->seed = o->seed;
    p->threads = umapc_resolve_threads(o->n_threads);
}

static int cands_alloc(nd_cands *c, size_t n, size_t mc) {
    c->mc = mc;
    c->idx = malloc(umapc_mul_size(n * sizeof(int32_t), mc));
    c->prio = malloc(umapc_mul_size(n * sizeof(uint32_t), mc));
    c->count = calloc(n, sizeof(uint32_t));
    return c->idx && c->prio && c->count ? 0 : -1;
}

static void cands_free(nd_cands *c) {
    free(c->idx);
    free(c->prio);
    free(c->count);
}

/* Every leaf of every tree joined, tree after tree (the leaves of one tree touch disjoint heaps).
 * Returns -1 when out of memory, 1 when progress asked to stop. */
static int join_leaves(const nd_space *s, const nd_heaps *h, const nd_forest *f, size_t leaf,
                       int threads, const umapc_progress *progress) {
    size_t n = f->n;
    int failed = 0, stop = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        float *buf = malloc(umapc_mul_size(5 * sizeof(float), leaf)), *probe_buf;
        size_t count = 0;
        failed = (probe_alloc(s, &probe_buf) < 0) | (buf == NULL);
        for (size_t t = 0; t < f->trees; t++) {
            const uint32_t *perm = f->perm + t * n, *end = f->end + t * n;
#pragma omp for schedule(dynamic, 64)
            for (size_t pos = 0; pos < n; pos++) {
                if (nd_should_stop(progress, "nndescent trees", t, f->trees, &count, &stop)) {
                    continue;
                }
                if (buf != NULL && (pos == 0 || end[pos - 1] == pos)) { /* pos starts a leaf */
                    size_t hi = end[pos];
                    for (size_t q = hi; q < n && q < hi + (hi - pos); q++) {
                        prefetch_row(s, perm[q]); /* about the next leaf */
                        prefetch_heap(h, perm[q]);
                        __builtin_prefetch(h->d + (size_t)perm[q] * h->K);
                        __builtin_prefetch(&h->top[perm[q]]);
                    }
                    join_leaf(s, h, perm + pos, hi - pos, buf, probe_buf);
                }
            }
        }
        free(buf);
        free(probe_buf);
    }
    return failed ? -1 : (stop ? 1 : 0);
}

/* Rows of size bytes each into the order given: out row i is row order[i]. */
static void *permute_rows(const void *src, const uint32_t *order, size_t n, size_t size,
                          int threads) {
    char *out = umapc_aligned_alloc(n, size);
    if (out != NULL) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) {
            memcpy(out + i * size, (const char *)src + (size_t)order[i] * size, size);
        }
    }
    return out;
}

/* The codes and their row terms into the order given. */
static int permute_codes(nd_space *s, const uint32_t *order, size_t n, int threads) {
    uint8_t *codes = permute_rows(s->codes, order, n, s->dim, threads);
    if (codes == NULL) {
        return -1;
    }
    umapc_aligned_free(s->codes);
    s->codes = codes;
    if (s->norm2 == NULL) {
        return 0;
    }
    int32_t *norm2 = permute_rows(s->norm2, order, n, sizeof *norm2, threads);
    int32_t *sum128 = permute_rows(s->sum128, order, n, sizeof *sum128, threads);
    if (norm2 == NULL || sum128 == NULL) {
        umapc_aligned_free(norm2);
        umapc_aligned_free(sum128);
        return -1;
    }
    umapc_aligned_free(s->norm2);
    umapc_aligned_free(s->sum128);
    s->norm2 = norm2;
    s->sum128 = sum128;
    return 0;
}

/* Switches to internal ids, the leaf order of the first tree (order receives it: internal id i is
 * point order[i]): the trees' leaves and the codes follow; float rows are reached through
 * s->map. */
static int renumber(nd_space *s, nd_forest *f, uint32_t *order, int threads) {
    size_t n = f->n;
    uint32_t *inv = malloc(umapc_mul_size(n, sizeof *inv));
    if (inv == NULL) {
        return -1;
    }
    memcpy(order, f->perm, n * sizeof *order);
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            inv[order[i]] = (uint32_t)i;
        }
#pragma omp for schedule(static)
        for (size_t e = 0; e < f->trees * n; e++) {
            f->perm[e] = inv[f->perm[e]];
        }
    }
    free(inv);
    free(s->proj); /* the trees are built: not needed any more */
    s->proj = NULL;
    if (s->codes == NULL) {
        s->map = order;
        return 0;
    }
    return permute_codes(s, order, n, threads);
}

/* The initial graph from the trees' leaves, in internal ids (see renumber). */
static umapc_status init_graph(nd_space *s, const nd_heaps *h, const nd_params *p, size_t n,
                               uint32_t *order, const umapc_progress *progress, umapc_error *err) {
    nd_forest f = {0};
    int built = build_projection(s, n, p->seed, p->threads) != 0
                    ? -1
                    : forest_build(s, &f, n, p->trees, p->leaf, p->seed, p->threads, progress);
    if (built == 0 && renumber(s, &f, order, p->threads) != 0) {
        built = -1;
    }
    if (built != 0) {
        forest_free(&f);
        return built < 0 ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory")
                         : umapc_fail(err, UMAPC_ERR_INTERRUPTED, "nndescent: interrupted");
    }
    int joined = join_leaves(s, h, &f, p->leaf, p->threads, progress);
    if (joined == 0 && umapc_progress_report(progress, "nndescent trees", p->trees, p->trees)) {
        joined = 1;
    }
    if (joined != 0) {
        forest_free(&f);
        return joined < 0 ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory")
                          : umapc_fail(err, UMAPC_ERR_INTERRUPTED, "nndescent: interrupted");
    }
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        fill_random(s, h, n, i, p->seed);
    }
    forest_free(&f);
    return UMAPC_OK;
}

static umapc_status descend(const nd_space *s, const nd_heaps *h, const nd_params *p, size_t n,
                            const umapc_progress *progress, umapc_error *err) {
    nd_cands cn = {0}, co = {0};
    uint8_t *locks = calloc(n, 1);
    umapc_status st = UMAPC_OK;
    if (locks == NULL || cands_alloc(&cn, n, p->mc) != 0 || cands_alloc(&co, n, p->mc) != 0) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory");
    }
    double stop_below = p->delta * (double)n * (double)p->K;
    for (size_t it = 0; st == UMAPC_OK && it < p->iters; it++) {
        size_t changed = 0;
        int r = nd_iteration(s, h, &cn, &co, locks, n, p->seed, it, p->iters, p->threads, progress,
                             &changed);
        if (r < 0) {
            st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory");
        } else if (r > 0 || umapc_progress_report(progress, "nndescent", it + 1, p->iters)) {
            st = umapc_fail(err, UMAPC_ERR_INTERRUPTED, "nndescent: interrupted");
        } else if ((double)changed <= stop_below) {
            break;
        }
    }
    free(locks);
    cands_free(&cn);
    cands_free(&co);
    return st;
}

/* Exact search for inputs too small to sample from. */
static void brute_force(const nd_space *s, const nd_heaps *h, size_t n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (j != i) {
                heap_push(h, i, (int32_t)j, nd_dist(s, (uint32_t)i, (uint32_t)j), ND_FLAG_NEW);
            }
        }
    }
}

/* Sorts the heap of i in place, ascending (heapsort: pop the largest to the end). */
static void sort_heap(const nd_heaps *h, size_t i) {
    int32_t *idx = h->idx + i * h->K;
    float *d = h->d + i * h->K;
    uint8_t *fl = h->flag + i * h->K;
    for (size_t m = h->K; m > 1; m--) {
        int32_t j = idx[m - 1];
        float dj = d[m - 1];
        uint8_t f = fl[m - 1];
        idx[m - 1] = idx[0];
        d[m - 1] = d[0];
        fl[m - 1] = fl[0];
        sift_down(idx, d, fl, m - 1, 0, j, dj, f);
    }
}

/* Sorts the m entries of a nearly sorted row by (distance, index). */
static void sort_ties(umapc_idx *ind, float *dist, size_t m) {
    for (size_t c = 1; c < m; c++) {
        umapc_idx j = ind[c];
        float d = dist[c];
        size_t q = c;
        for (; q > 0 && (dist[q - 1] > d || (dist[q - 1] == d && ind[q - 1] > j)); q--) {
            ind[q] = ind[q - 1];
            dist[q] = dist[q - 1];
        }
        ind[q] = j;
        dist[q] = d;
    }
}

/* The surrogate distance of slot c of heap i, between original points oi and oj: as kept, or
 * re-measured on the float rows where the codes are scaled. */
static float row_surrogate(const nd_space *s, const nd_heaps *h, size_t i, size_t c, umapc_idx oi,
                           uint32_t oj) {
    if (!s->scaled) {
        return h->d[i * h->K + c];
    }
    const float *a = s->rows + (size_t)oi * s->dim, *b = s->rows + (size_t)oj * s->dim;
    return metric_space_dist(&s->space, a, b);
}

/* The row of internal point i from its sorted heap: the point itself, then its neighbours by
 * (distance, original index); empty slots (idx -1, distance inf) sort last and become the
 * padding. order maps internal ids to original ones (NULL: the same). */
static void write_row(const nd_space *s, const nd_heaps *h, const uint32_t *order, size_t i,
                      size_t k, umapc_idx *ind, float *dist) {
    ind[0] = (umapc_idx)(order != NULL ? order[i] : i);
    dist[0] = 0.0f;
    size_t filled = 1;
    for (size_t c = 1; c < k; c++) {
        int32_t j = c - 1 < h->K ? h->idx[i * h->K + c - 1] : -1;
        if (j >= 0) {
            uint32_t oj = order != NULL ? order[j] : (uint32_t)j;
            float t = metric_surrogate_to_distance(&s->space.plan,
                                                   row_surrogate(s, h, i, c - 1, ind[0], oj));
            ind[c] = (umapc_idx)oj;
            /* rounding below 0 (dot) is 0; inner_product distances are negative */
            dist[c] =
                t > 0.0f || s->space.plan.metric.kind == UMAPC_METRIC_INNER_PRODUCT ? t : 0.0f;
            filled = c + 1;
        } else {
            ind[c] = -1;
            dist[c] = INFINITY;
        }
    }
    sort_ties(ind + 1, dist + 1, filled - 1);
}

/* Sorts every heap and writes the result rows in original ids. */
static void write_rows(const nd_space *s, const nd_heaps *h, const uint32_t *order, size_t n,
                       size_t k, int threads, umapc_idx *indices, float *distances) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        sort_heap(h, i);
        size_t row = order != NULL ? order[i] : i;
        write_row(s, h, order, i, k, indices + row * k, distances + row * k);
    }
}

/* ---- recall check: how hard the data is shows only in the result ---- */

/* The recall check samples rows in batches of ND_RECALL_BATCH, measured by brute force in the
 * search's own space (float rows: pixel-like codes are not checked, see search_once). A first
 * batch that comes within ND_RECALL_DOUBT of min_recall takes a
 * second one before a restart is paid for (the standard error of one batch is about 0.0025 at
 * 0.99). */
#define ND_RECALL_BATCH 128
#define ND_RECALL_DOUBT 0.004
#define ND_GROW_ROUNDS  2
#define ND_RECALL_CHUNK 256 /* rows a thread takes at a time */

/* The k-1 smallest distances (surrogates) from each of the m sampled internal ids to the other
 * points, into best (m x (k - 1), each a heap as umapc_offer_smallest keeps it; *len per row). Each
 * thread keeps its own heaps and merges them at the end, so the result is the same for any
 * thread count. Returns -1 when out of memory. */
static int sample_exact(const nd_space *s, size_t n, const uint32_t *sample, size_t m, size_t k,
                        int threads, float *best, size_t *len) {
    size_t cap = k - 1;
    int failed = 0;
    memset(len, 0, m * sizeof *len);
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        float *mine = malloc(umapc_mul_size(m * sizeof(float), cap));
        size_t *mine_len = calloc(m, sizeof *mine_len);
        failed = mine == NULL || mine_len == NULL;
#pragma omp for schedule(dynamic, 1)
        for (size_t j0 = 0; j0 < n; j0 += ND_RECALL_CHUNK) {
            size_t j1 = j0 + ND_RECALL_CHUNK < n ? j0 + ND_RECALL_CHUNK : n;
            for (size_t j = j0; j < j1 && !failed; j++) {
                for (size_t q = 0; q < m; q++) {
                    if (sample[q] != j) {
                        float d = nd_dist(s, sample[q], (uint32_t)j);
                        umapc_offer_smallest(mine + q * cap, &mine_len[q], cap, d);
                    }
                }
            }
        }
#pragma omp critical(nd_sample_merge)
        if (!failed) {
            for (size_t q = 0; q < m; q++) {
                for (size_t c = 0; c < mine_len[q]; c++) {
                    umapc_offer_smallest(best + q * cap, &len[q], cap, mine[q * cap + c]);
                }
            }
        }
        free(mine);
        free(mine_len);
    }
    return failed ? -1 : 0;
}

/* Counts, over ND_RECALL_BATCH evenly spread points (where salt puts them), the result neighbours
 * no farther than the exact k-th (ties are found either way) into *found, and those wanted into
 * *wanted. The result rows are in original ids, the space in internal ones (order). */
static int sample_hits(const nd_space *s, const uint32_t *order, size_t n, size_t k,
                       const umapc_idx *indices, const float *distances, uint64_t salt, int threads,
                       size_t *found, size_t *wanted) {
    size_t m = n < ND_RECALL_BATCH ? n : ND_RECALL_BATCH, cap = k - 1;
    uint32_t *sample = malloc(m * sizeof *sample);
    float *best = malloc(umapc_mul_size(m * sizeof(float), cap));
    size_t *len = malloc(m * sizeof *len);
    int failed = sample == NULL || best == NULL || len == NULL;
    if (!failed) {
        size_t offset = (size_t)(umapc_hash64(salt ^ 0x5265636c6cULL) % n);
        for (size_t q = 0; q < m; q++) {
            sample[q] = (uint32_t)((offset + q * (n / m)) % n);
        }
        failed = sample_exact(s, n, sample, m, k, threads, best, len) != 0;
    }
    for (size_t q = 0; !failed && q < m; q++) {
        if (len[q] < cap) {
            continue; /* fewer than k - 1 other points: nothing to miss */
        }
        float kth = metric_surrogate_to_distance(&s->space.plan, best[q * cap]);
        float slack = fabsf(kth) * 1e-5f + 1e-7f; /* conversions of the same surrogate */
        size_t row = order != NULL ? order[sample[q]] : sample[q];
        const umapc_idx *gi = indices + row * k;
        const float *gd = distances + row * k;
        for (size_t c = 1; c < k; c++) {
            *found += gi[c] >= 0 && gd[c] <= kth + slack;
        }
        *wanted += cap;
    }
    free(sample);
    free(best);
    free(len);
    return failed ? -1 : 0;
}

/* Recall@k of the result rows estimated on one or two batches of sampled points. */
static int sampled_recall(const nd_space *s, const uint32_t *order, size_t n, size_t k,
                          const umapc_idx *indices, const float *distances, uint64_t seed,
                          double min_recall, int threads, double *recall) {
    size_t found = 0, wanted = 0;
    *recall = 1.0;
    for (uint64_t batch = 0; batch < 2; batch++) {
        if (sample_hits(s, order, n, k, indices, distances, umapc_hash64(seed + batch), threads,
                        &found, &wanted) != 0) {
            return -1;
        }
        *recall = wanted ? (double)found / (double)wanted : 1.0;
        if (*recall >= min_recall + ND_RECALL_DOUBT) {
            break;
        }
    }
    return 0;
}

/* The heap size expected to lift the recall from what K reached to halfway between min_recall
 * and 1, a margin for the sample's error: over text embeddings, word vectors and single-cell
 * scores (bench/bench_knn_data.py) each 5 more slots cut the share missed by a factor of 2.2
 * or more. */
static size_t grown_heap_size(size_t K, double recall, double min_recall, size_t n) {
    double missed = fmax(1.0 - recall, 1e-4), allowed = fmax(0.5 * (1.0 - min_recall), 1e-4);
    double more = ceil(5.0 * log(missed / allowed) / log(2.2));
    size_t grown = K + (size_t)fmax(more, 2.0);
    return grown < n - 1 ? grown : n - 1;
}

/* Whether the exact graph (n^2 pairs at matrix-multiply speed) costs less than a search with heaps
 * of K: a cost model fitted to both on float rows of 25 to 384 dimensions (the search: about
 * (0.95 + 0.0045 dim) us per point and heap slot; exact: about 0.02 ns per pair and (dim + 11)). */
static int exact_is_cheaper(size_t n, size_t dim, size_t K) {
    double search = (double)n * (double)K * (0.95e-6 + 4.5e-9 * (double)dim);
    double exact = 2e-11 * (double)n * (double)n * ((double)dim + 11.0);
    return exact < search;
}

/* Sparse rows have no matrix-multiply path: each exact pair costs about what a pair of the search
 * does, and the search measures about ND_SPARSE_PAIRS_PER_SLOT pairs per point and heap slot. */
#define ND_SPARSE_PAIRS_PER_SLOT 150
static int input_exact_is_cheaper(const nd_input *in, size_t K) {
    if (in->csr != NULL) {
        return in->n < ND_SPARSE_PAIRS_PER_SLOT * K;
    }
    return exact_is_cheaper(in->n, in->dim, K);
}

static umapc_status exact_graph(const umapc_metric *metric, const nd_input *in, size_t k,
                                int threads, const umapc_progress *progress, umapc_idx *indices,
                                float *distances, umapc_error *err) {
    umapc_exact_options eo;
    umapc_exact_options_init(&eo);
    eo.n_threads = threads;
    if (in->csr != NULL) {
        return umapc_exact_knn_graph_csr(metric, in->csr, k, &eo, progress, indices, distances,
                                         err);
    }
    return exact_knn_graph_with(exact_kernel_select(), metric, in->data, in->n, in->dim, k, &eo,
                                progress, indices, distances, err);
}

/* One NN-descent search with the parameters p, its rows written to indices/distances; with
 * min_recall > 0, *recall receives the estimate of sampled_recall (else 1). */
static umapc_status search_once(const umapc_metric *metric, const nd_input *in, size_t k,
                                const nd_params *p, double min_recall,
                                const umapc_progress *progress, umapc_idx *indices,
                                float *distances, umapc_nndescent_outcome *outcome,
                                umapc_error *err) {
    umapc_status st = UMAPC_OK;
    nd_space s;
    nd_heaps h = {0};
    float *owned = NULL;
    uint32_t *order = NULL;
    outcome->recall_estimate = 1.0;
    int checked = min_recall > 0.0 && k > 1, exact = 0, brute = 0;
    size_t n = in->n;
    if (space_init(&s, metric, in, p->threads, &owned) != 0 || heaps_alloc(&h, n, p->K) != 0) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory");
    } else if (checked && k <= n && s.mode != ND_U8 && input_exact_is_cheaper(in, 2 * p->K)) {
        /* small float data: exact costs less than a search and the restart it may need */
        st = exact_graph(metric, in, k, p->threads, progress, indices, distances, err);
        exact = 1;
    } else if (n <= 4 * p->mc) {
        brute_force(&s, &h, n, p->threads); /* in original ids */
        brute = 1;
    } else if ((order = malloc(umapc_mul_size(n, sizeof *order))) == NULL) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory");
    } else {
        st = init_graph(&s, &h, p, n, order, progress, err);
        if (st == UMAPC_OK) {
            st = descend(&s, &h, p, n, progress, err);
        }
    }
    outcome->exact = exact || brute;
    if (st == UMAPC_OK && !exact) {
        write_rows(&s, &h, order, n, k, p->threads, indices, distances);
        outcome->searches += !brute;
        outcome->heap_size = p->K;
    }
    /* Pixel-like codes are left unchecked: their search is cheap next to the brute force of the
     * check (over 10% on Fashion-MNIST), and such data reaches 0.99 (bench/bench_knn_data.py). */
    if (st == UMAPC_OK && checked && !exact && order != NULL && s.mode != ND_U8 &&
        sampled_recall(&s, order, n, k, indices, distances, p->seed, min_recall, p->threads,
                       &outcome->recall_estimate) != 0) {
        st = umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: out of memory");
    }
    heaps_free(&h);
    free(order);
    umapc_aligned_free(s.codes);
    umapc_aligned_free(s.norm2);
    umapc_aligned_free(s.sum128);
    free(s.proj);
    sparse_rows_free(&s.csr);
    free(owned);
    return st;
}

/* The search on rows in search form (metric_search_rows), with its recall check and what follows
 * from it. */
static umapc_status graph_from_rows(const umapc_metric *metric, const nd_input *in, size_t k,
                                    const umapc_nndescent_options *o,
                                    const umapc_progress *progress,
                                    umapc_nndescent_outcome *outcome, umapc_idx *indices,
                                    float *distances, umapc_error *err) {
    size_t n = in->n;
    nd_params p;
    resolve_params(&p, o, n, k);
    if (p.K == 0) { /* a single point, or k = 1 with no extra: every row is just its point */
        nd_space s0 = {0};
        metric_space_init(&s0.space, metric, in->dim, METRIC_SPACE_ANGULAR_EXACT);
        nd_heaps none = {0};
        for (size_t i = 0; i < n; i++) {
            write_row(&s0, &none, NULL, i, k, indices + i * k, distances + i * k);
        }
        return UMAPC_OK;
    }
    umapc_status st =
        search_once(metric, in, k, &p, o->min_recall, progress, indices, distances, outcome, err);
    /* How hard the data is shows only in the result (text embeddings and single-cell scores need
     * larger heaps than pixels): a search that falls short starts again with larger heaps, which
     * recovers more than going on from the first graph does, or is replaced by exact search where
     * that costs less than the new search would. */
    for (int round = 0; st == UMAPC_OK && outcome->recall_estimate < o->min_recall && p.K < n - 1 &&
                        round < ND_GROW_ROUNDS;
         round++) {
        p.K = grown_heap_size(p.K, outcome->recall_estimate, o->min_recall, n);
        if (k <= n && input_exact_is_cheaper(in, p.K)) {
            outcome->exact = 1;
            outcome->recall_estimate = 1.0;
            return exact_graph(metric, in, k, p.threads, progress, indices, distances, err);
        }
        st = search_once(metric, in, k, &p, o->min_recall, progress, indices, distances, outcome,
                         err);
    }
    return st;
}

umapc_status umapc_nndescent_knn_graph(const umapc_metric *metric, const float *data, size_t n,
                                       size_t dim, size_t k, const umapc_nndescent_options *opts,
                                       const umapc_progress *progress,
                                       umapc_nndescent_outcome *outcome, umapc_idx *indices,
                                       float *distances, umapc_error *err) {
    umapc_nndescent_outcome ignored;
    outcome = outcome != NULL ? outcome : &ignored;
    *outcome = (umapc_nndescent_outcome){0, 0, 0, 1.0};
    if (metric == NULL || data == NULL || indices == NULL || distances == NULL || dim == 0) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "nndescent: NULL argument or dim 0");
    }
    if (k == 0 || k > (size_t)INT32_MAX || n == 0 || n > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "nndescent: need k >= 1 and 1 <= n < 2^31");
    }
    umapc_status st = umapc_metric_validate_dim(metric, dim, err);
    if (st != UMAPC_OK) {
        return st;
    }
    umapc_nndescent_options defaults;
    umapc_nndescent_options_init(&defaults);
    const umapc_nndescent_options *o = opts ? opts : &defaults;
    float *owned = NULL;
    const float *rows = metric_search_rows(metric, data, n, dim, &owned);
    if (rows == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "nndescent: cannot normalise %zu rows", n);
    }
    nd_input in = {rows, NULL, n, dim};
    st = graph_from_rows(metric, &in, k, o, progress, outcome, indices, distances, err);
    free(owned);
    return st;
}

umapc_status umapc_nndescent_knn_graph_csr(const umapc_metric *metric, const umapc_csr *data,
                                           size_t k, const umapc_nndescent_options *opts,
                                           const umapc_progress *progress,
                                           umapc_nndescent_outcome *outcome, umapc_idx *indices,
                                           float *distances, umapc_error *err) {
    umapc_nndescent_outcome ignored;
    outcome = outcome != NULL ? outcome : &ignored;
    *outcome = (umapc_nndescent_outcome){0, 0, 0, 1.0};
    if (metric == NULL || data == NULL || indices == NULL || distances == NULL) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "nndescent: NULL argument");
    }
    size_t n = data->n_rows;
    if (k == 0 || k > (size_t)INT32_MAX || n == 0 || n > (size_t)INT32_MAX) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "nndescent: need k >= 1 and 1 <= n < 2^31");
    }
    umapc_status st = umapc_sparse_check_data(metric, data, err);
    if (st != UMAPC_OK) {
        return st;
    }
    umapc_nndescent_options defaults;
    umapc_nndescent_options_init(&defaults);
    nd_input in = {NULL, data, n, data->n_cols};
    return graph_from_rows(metric, &in, k, opts ? opts : &defaults, progress, outcome, indices,
                           distances, err);
}
