/* 8-bit codes of the index rows for cheaper traversal (build, all-points graph). Final distances
 * are always recomputed on the float rows. */
#include "hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float hnsw_l2_u8_scalar(const uint8_t *a, const uint8_t *b, size_t dim) {
    uint32_t s = 0;
    for (size_t i = 0; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        s += (uint32_t)(d * d);
    }
    return (float)s;
}

static hnsw_code_fn code_kernel(void) {
    const char *level = simd_kernels_select()->level;
    if (strcmp(level, "avx512") == 0) {
        return hnsw_l2_u8_avx512;
    }
    if (strcmp(level, "avx2") == 0) {
        return hnsw_l2_u8_avx2;
    }
    return hnsw_l2_u8_scalar;
}

/* Per-dimension offsets and one common scale: squared distances of codes are then proportional to
 * squared distances of rows, up to rounding. Integer data spanning at most 255 gets scale 1, which
 * makes the codes lossless. */
static int code_map(const umapc_hnsw *h, size_t n, float *lo, float *scale, int *exact) {
    size_t dim = h->dim;
    float *hi = malloc(dim * sizeof *hi);
    if (hi == NULL) {
        return -1;
    }
    const float *r0 = hnsw_vec(h, 0);
    for (size_t d = 0; d < dim; d++) {
        lo[d] = hi[d] = r0[d];
    }
    int integral = 1;
    for (size_t u = 0; u < n; u++) {
        const float *r = hnsw_vec(h, (uint32_t)u);
        for (size_t d = 0; d < dim; d++) {
            lo[d] = r[d] < lo[d] ? r[d] : lo[d];
            hi[d] = r[d] > hi[d] ? r[d] : hi[d];
            integral &= (r[d] == nearbyintf(r[d]));
        }
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

int hnsw_codes_build(const umapc_hnsw *h, size_t n, int threads, hnsw_codes *out) {
    memset(out, 0, sizeof *out);
    if (n == 0 || (h->space.mode != HNSW_DIST_SQL2 && h->space.mode != HNSW_DIST_ONE_MINUS_DOT) ||
        h->dim > (1u << 14)) { /* 255^2 * dim must stay exact in 32 bits */
        return -1;
    }
    size_t dim = h->dim;
    float *lo = malloc(dim * sizeof *lo), scale;
    int exact;
    out->codes = malloc(umapc_mul_size(n, dim));
    if (lo == NULL || out->codes == NULL || code_map(h, n, lo, &scale, &exact) != 0) {
        free(lo);
        hnsw_codes_free(out);
        return -1;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t u = 0; u < n; u++) {
        const float *r = hnsw_vec(h, (uint32_t)u);
        uint8_t *c = out->codes + u * dim;
        for (size_t d = 0; d < dim; d++) {
            float x = (r[d] - lo[d]) * scale + 0.5f;
            c[d] = (uint8_t)(x < 0.0f ? 0.0f : (x > 255.0f ? 255.0f : x));
        }
    }
    free(lo);
    out->n = n;
    out->scale = scale;
    out->exact = exact && h->space.mode == HNSW_DIST_SQL2;
    return 0;
}

void hnsw_codes_free(hnsw_codes *c) {
    free(c->codes);
    memset(c, 0, sizeof *c);
}

void hnsw_view_codes(hnsw_view *v, const umapc_hnsw *h, const hnsw_codes *c) {
    v->h = h;
    v->base = c->codes;
    v->stride = h->dim;
    v->offset = 0;
    v->bytes = h->dim;
    v->code_dist = code_kernel();
}
