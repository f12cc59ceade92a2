/* 8-bit code items: lossless storage of integer rows, and a compact lossy copy of float rows for
 * cheaper traversal while building and for the all-points graph (final distances are then
 * recomputed on the float rows). */
#include "codes.h"
#include "hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hnsw_item_fill(uint8_t *item, size_t dim) {
    int32_t norm2, sum128;
    code_row_terms(item + HNSW_ITEM_HEADER, dim, &norm2, &sum128);
    memcpy(item, &norm2, sizeof norm2);
    memcpy(item + sizeof norm2, &sum128, sizeof sum128);
}

/* ---- item kernels: one per instruction set, chosen once per view ---- */

/* The header offset is added here rather than by the caller so that the search loop makes one
 * indirect call per distance. */
#define ITEM_KERNELS(name)                                                                         \
    static float item_##name(const uint8_t *a, const uint8_t *b, size_t dim) {                     \
        return code_l2_##name(a + HNSW_ITEM_HEADER, b + HNSW_ITEM_HEADER, dim);                    \
    }
#define MIXED_KERNELS(name)                                                                        \
    static float mixed_##name(const float *q, const uint8_t *item, size_t dim) {                   \
        return code_mixed_##name(q, item + HNSW_ITEM_HEADER, dim);                                 \
    }

ITEM_KERNELS(scalar)
MIXED_KERNELS(scalar)
#if defined(UMAPC_HAVE_X86_KERNELS)
ITEM_KERNELS(avx2)
ITEM_KERNELS(avx512)
MIXED_KERNELS(avx2)
MIXED_KERNELS(avx512)

static float item_vnni(const uint8_t *a, const uint8_t *b, size_t dim) {
    int32_t norm_a, sum_a, norm_b;
    memcpy(&norm_a, a, sizeof norm_a);
    memcpy(&sum_a, a + sizeof norm_a, sizeof sum_a);
    memcpy(&norm_b, b, sizeof norm_b);
    int32_t dot = code_dot_flip_vnni(a + HNSW_ITEM_HEADER, b + HNSW_ITEM_HEADER, dim);
    return code_l2_from_dot(norm_a, norm_b, sum_a, dot);
}
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
ITEM_KERNELS(neon)
ITEM_KERNELS(dotprod)
MIXED_KERNELS(neon)
#endif

static void choose_kernels(hnsw_view *v) {
    unsigned features = umapc_cpu_features();
    v->code_dist = item_scalar;
    v->mixed_dist = mixed_scalar;
    switch (umapc_cpu_level()) {
#if defined(UMAPC_HAVE_X86_KERNELS)
    case UMAPC_LEVEL_AVX512:
        v->code_dist = (features & UMAPC_CPU_AVX512VNNI) ? item_vnni : item_avx512;
        v->mixed_dist = mixed_avx512;
        break;
    case UMAPC_LEVEL_AVX2:
        v->code_dist = item_avx2;
        v->mixed_dist = mixed_avx2;
        break;
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    case UMAPC_LEVEL_NEON:
        v->code_dist = (features & UMAPC_CPU_DOTPROD) ? item_dotprod : item_neon;
        v->mixed_dist = mixed_neon;
        break;
#endif
    default:
        (void)features;
        break;
    }
}

/* ---- lossless codes of integer rows ---- */

static int column_fits(float x, float lo) {
    return x == nearbyintf(x) && x >= lo && x - lo <= 255.0f;
}

static int codes_allowed(const umapc_hnsw *h) {
    return h->allow_codes && h->space.mode == METRIC_SPACE_SQL2 && h->dim <= CODE_MAX_DIM;
}

int hnsw_rows_code_offsets(const umapc_hnsw *h, const float *rows, size_t count, int threads,
                           float *lo) {
    size_t dim = h->dim;
    if (!codes_allowed(h) || count == 0) {
        return 0;
    }
    float *hi = malloc(dim * sizeof *hi);
    int fits = hi == NULL ? -1 : code_column_ranges(rows, count, dim, dim, threads, lo, hi);
    for (size_t d = 0; d < dim && fits == 1; d++) {
        fits = hi[d] - lo[d] <= 255.0f;
    }
    free(hi);
    return fits;
}

int hnsw_rows_fit_codes(const umapc_hnsw *h, const float *rows, size_t count) {
    if (!codes_allowed(h)) {
        return 0;
    }
    int fits = 1;
    for (size_t u = 0; u < count && fits; u++) {
        for (size_t d = 0; d < h->dim; d++) {
            fits &= column_fits(rows[u * h->dim + d], h->code_lo[d]);
        }
    }
    return fits;
}

void hnsw_encode_row(const umapc_hnsw *h, const float *row, uint8_t *item) {
    uint8_t *c = item + HNSW_ITEM_HEADER;
    for (size_t d = 0; d < h->dim; d++) {
        c[d] = (uint8_t)(row[d] - h->code_lo[d]);
    }
    hnsw_item_fill(item, h->dim);
}

void hnsw_row(const umapc_hnsw *h, uint32_t u, float *out) {
    const unsigned char *r = h->base + (size_t)u * h->stride + h->vec_offset;
    if (h->rows == HNSW_ROWS_FLOAT) {
        memcpy(out, r, h->dim * sizeof *out);
        return;
    }
    for (size_t d = 0; d < h->dim; d++) {
        out[d] = h->code_lo[d] + (float)r[HNSW_ITEM_HEADER + d];
    }
}

void hnsw_view_rows(hnsw_view *v, const umapc_hnsw *h) {
    memset(v, 0, sizeof *v);
    v->h = h;
    v->base = h->base;
    v->stride = h->stride;
    v->offset = h->vec_offset;
    if (h->rows == HNSW_ROWS_FLOAT) {
        v->bytes = h->dim * sizeof(float);
        v->kind = HNSW_VIEW_FLOAT;
        return;
    }
    v->bytes = hnsw_item_bytes(h->dim);
    v->kind = HNSW_VIEW_CODES;
    choose_kernels(v);
}

const void *hnsw_query_view(const umapc_hnsw *h, const float *prepared, void *buf, hnsw_view *v) {
    hnsw_view_rows(v, h);
    if (h->rows == HNSW_ROWS_FLOAT) {
        return prepared;
    }
    if (hnsw_rows_fit_codes(h, prepared, 1)) {
        hnsw_encode_row(h, prepared, buf);
        return buf;
    }
    float *q = buf;
    for (size_t d = 0; d < h->dim; d++) {
        q[d] = prepared[d] - h->code_lo[d];
    }
    v->kind = HNSW_VIEW_FLOAT_VS_CODES;
    return q;
}

/* ---- lossy codes of float rows ---- */

/* Per-dimension offsets and one common scale: squared distances of codes are then proportional to
 * squared distances of rows, up to rounding. Integer data spanning at most 255 gets scale 1, which
 * makes the codes lossless. */
static int code_map(const umapc_hnsw *h, size_t n, int threads, float *lo, float *scale,
                    int *exact) {
    size_t dim = h->dim;
    float *hi = malloc(dim * sizeof *hi);
    int integral = hi == NULL ? -1
                              : code_column_ranges(hnsw_vec(h, 0), n, dim,
                                                   h->stride / sizeof(float), threads, lo, hi);
    if (integral < 0) {
        free(hi);
        return -1;
    }
    float range = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        range = hi[d] - lo[d] > range ? hi[d] - lo[d] : range;
    }
    free(hi);
    *exact = integral && range <= 255.0f;
    *scale = (*exact || range <= 0.0f) ? 1.0f : 255.0f / range;
    return 0;
}

/* Whether one of the first n (prepared, float) rows is all zeros: a zero row of cosine or
 * hellinger, a constant row of correlation. */
static int has_zero_row(const umapc_hnsw *h, size_t n) {
    for (size_t u = 0; u < n; u++) {
        if (metric_row_is_zero(hnsw_vec(h, (uint32_t)u), h->dim)) {
            return 1;
        }
    }
    return 0;
}

int hnsw_codes_build(const umapc_hnsw *h, size_t n, int threads, hnsw_codes *out) {
    memset(out, 0, sizeof *out);
    if (h->rows == HNSW_ROWS_CODES) { /* the index's own items */
        out->items = h->base + h->vec_offset;
        out->n = n;
        out->stride = h->stride;
        out->scale = 1.0f;
        out->exact = 1;
        return 0;
    }
    if (n == 0 ||
        (h->space.mode != METRIC_SPACE_SQL2 && h->space.mode != METRIC_SPACE_ONE_MINUS_DOT) ||
        h->dim > CODE_MAX_DIM) {
        return -1;
    }
    /* Codes of unit rows measure 1 - <a,b> as |a-b|^2 = 2 (1 - <a,b>), but put a zero row at
     * |a|^2 = 1 from every unit row, half the metric's 1: nearer to each point than most of its
     * true neighbours, it would prune their links while building (5 constant rows among 2,000
     * cut self-recall under correlation to 84%). Such data is searched on the float rows. */
    if (h->space.mode == METRIC_SPACE_ONE_MINUS_DOT && has_zero_row(h, n)) {
        return -1;
    }
    size_t dim = h->dim, stride = (hnsw_item_bytes(dim) + 7) & ~(size_t)7;
    float *lo = malloc(dim * sizeof *lo), scale;
    int exact;
    uint8_t *items = malloc(umapc_mul_size(n, stride));
    if (lo == NULL || items == NULL || code_map(h, n, threads, lo, &scale, &exact) != 0) {
        free(lo);
        free(items);
        return -1;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t u = 0; u < n; u++) {
        const float *r = hnsw_vec(h, (uint32_t)u);
        uint8_t *item = items + u * stride, *c = item + HNSW_ITEM_HEADER;
        for (size_t d = 0; d < dim; d++) {
            float x = (r[d] - lo[d]) * scale + 0.5f;
            /* NaN (an infinite range gives scale 0, and inf * 0) clamps to 0: the cast of a
             * value outside 0..255 is undefined */
            c[d] = (uint8_t)(x > 0.0f ? (x < 255.0f ? x : 255.0f) : 0.0f);
        }
        hnsw_item_fill(item, dim);
    }
    free(lo);
    out->items = items;
    out->n = n;
    out->stride = stride;
    out->scale = scale;
    out->exact = exact && h->space.mode == METRIC_SPACE_SQL2;
    out->owned = 1;
    return 0;
}

void hnsw_codes_free(hnsw_codes *c) {
    if (c->owned) {
        free(c->items);
    }
    memset(c, 0, sizeof *c);
}

void hnsw_view_codes(hnsw_view *v, const umapc_hnsw *h, const hnsw_codes *c) {
    memset(v, 0, sizeof *v);
    v->h = h;
    v->base = c->items;
    v->stride = c->stride;
    v->offset = 0;
    v->bytes = hnsw_item_bytes(h->dim);
    v->kind = HNSW_VIEW_CODES;
    choose_kernels(v);
}
