/* Portable side of the 8-bit code kernels and their run-time choice. */
#include "codes.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

int32_t code_dot_flip_scalar(const uint8_t *a, const uint8_t *b, size_t dim) {
    int32_t s = 0;
    for (size_t i = 0; i < dim; i++) {
        s += (int32_t)a[i] * ((int32_t)b[i] - 128);
    }
    return s;
}

int code_use_vnni(void) {
    return (umapc_cpu_features() & UMAPC_CPU_AVX512VNNI) != 0;
}

code_dot_flip_fn code_dot_flip_select(void) {
#if defined(UMAPC_HAVE_X86_KERNELS)
    if (code_use_vnni()) {
        return code_dot_flip_vnni;
    }
#endif
    return NULL;
}

void code_dot_flip_4x4_scalar(const uint8_t *const flip[4], const uint8_t *const plain[4],
                              size_t dim, int32_t out[16]) {
    for (size_t r = 0; r < 4; r++) {
        for (size_t c = 0; c < 4; c++) {
            out[r * 4 + c] = code_dot_flip_scalar(plain[c], flip[r], dim);
        }
    }
}

code_dot_flip_4x4_fn code_dot_flip_4x4_select(void) {
#if defined(UMAPC_HAVE_X86_KERNELS)
    if (code_use_vnni()) {
        return code_dot_flip_4x4_vnni;
    }
#endif
    return NULL;
}

void code_dot_flip_tile_scalar(const uint8_t *const flip[4], size_t nf,
                               const uint8_t *const plain[4], size_t np, size_t dim,
                               int32_t out[16]) {
    for (size_t r = 0; r < nf; r++) {
        for (size_t c = 0; c < np; c++) {
            out[r * 4 + c] = code_dot_flip_scalar(plain[c], flip[r], dim);
        }
    }
}

code_dot_flip_tile_fn code_dot_flip_tile_select(void) {
#if defined(UMAPC_HAVE_X86_KERNELS)
    if (code_use_vnni()) {
        return code_dot_flip_tile_vnni;
    }
#endif
    return NULL;
}

int code_from_floats_scalar(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                            int32_t *sum128) {
    int ok = 1;
    for (size_t i = 0; i < dim; i++) {
        float v = x[i], w = v > 0.0f ? v : 0.0f; /* NaN clamps to 0, and fails below */
        w = w < 255.0f ? w : 255.0f;
        int32_t iv = (int32_t)w;
        ok &= v == (float)iv;
        out[i] = (uint8_t)iv;
    }
    if (norm2 != NULL) {
        code_row_terms(out, dim, norm2, sum128);
    }
    return ok;
}

int code_from_scaled_floats(const float *x, size_t dim, uint8_t *out, int32_t *norm2,
                            int32_t *sum128) {
    int ok = 1;
    /* branch-free and without tables, so that the compiler may vectorise it */
    for (size_t i = 0; i < dim; i++) {
        float v = x[i] * 255.0f, w = v > 0.0f ? v : 0.0f; /* NaN clamps to 0, and fails below */
        w = w < 255.0f ? w : 255.0f;
        int32_t c = (int32_t)(w + 0.5f);
        float direct = (float)c / 255.0f, through_double = (float)((double)c / 255.0);
        ok &= (x[i] == direct) | (x[i] == through_double);
        out[i] = (uint8_t)c;
    }
    if (ok && norm2 != NULL) {
        code_row_terms(out, dim, norm2, sum128);
    }
    return ok;
}

code_from_floats_fn code_from_floats_select(void) {
#if defined(UMAPC_HAVE_X86_KERNELS)
    if (code_use_vnni()) {
        return code_from_floats_vnni;
    }
#endif
    return code_from_floats_scalar;
}

/* Each thread scans its share of the rows into its own minima and maxima, set up before the
 * parallel region (so every thread reaches the worksharing loop, and parts of threads the runtime
 * did not start still hold a real row); min and max do not depend on the merge order. */
int code_column_ranges(const float *x, size_t n, size_t dim, size_t stride, int threads, float *lo,
                       float *hi) {
    float *part = malloc((size_t)threads * 2 * dim * sizeof *part);
    if (part == NULL) {
        return -1;
    }
    for (int t = 0; t < threads; t++) {
        memcpy(part + (size_t)t * 2 * dim, x, dim * sizeof *part);
        memcpy(part + (size_t)t * 2 * dim + dim, x, dim * sizeof *part);
    }
    int integral = 1;
#pragma omp parallel num_threads(threads) reduction(& : integral)
    {
        float *l = part + (size_t)umapc_thread_id() * 2 * dim, *h = l + dim;
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; i++) {
            const float *r = x + i * stride;
            int ok = 1;
            for (size_t c = 0; c < dim; c++) {
                /* comparisons, not fminf/floorf: these vectorise */
                float v = r[c];
                l[c] = v < l[c] ? v : l[c];
                h[c] = v > h[c] ? v : h[c];
                /* the int cast is defined only for values in range: NaN and huge ones become 0
                 * here and fail the test below */
                float w = v >= -1e9f && v <= 1e9f ? v : 0.0f;
                ok &= (w == v) & (w == (float)(int32_t)w);
            }
            integral &= ok;
        }
    }
    memcpy(lo, x, dim * sizeof *lo);
    memcpy(hi, x, dim * sizeof *hi);
    for (int t = 0; t < threads; t++) {
        const float *l = part + (size_t)t * 2 * dim, *h = l + dim;
        for (size_t c = 0; c < dim; c++) {
            lo[c] = fminf(lo[c], l[c]);
            hi[c] = fmaxf(hi[c], h[c]);
        }
    }
    free(part);
    return integral;
}

float code_l2_scalar(const uint8_t *a, const uint8_t *b, size_t dim) {
    uint32_t s = 0;
    for (size_t i = 0; i < dim; i++) {
        int d = (int)a[i] - (int)b[i];
        s += (uint32_t)(d * d);
    }
    return (float)s;
}

float code_mixed_scalar(const float *q, const uint8_t *c, size_t dim) {
    float s = 0.0f;
    for (size_t i = 0; i < dim; i++) {
        float d = q[i] - (float)c[i];
        s += d * d;
    }
    return s;
}

code_l2_fn code_l2_at(umapc_level level) {
    if (!umapc_cpu_runs(level)) {
        return NULL;
    }
    switch (level) {
    case UMAPC_LEVEL_SCALAR:
        return code_l2_scalar;
#if defined(UMAPC_HAVE_X86_KERNELS)
    case UMAPC_LEVEL_AVX2:
        return code_l2_avx2;
    case UMAPC_LEVEL_AVX512:
        return code_l2_avx512;
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    case UMAPC_LEVEL_NEON:
        return (umapc_cpu_detected() & UMAPC_CPU_DOTPROD) ? code_l2_dotprod : code_l2_neon;
#endif
    default:
        return NULL;
    }
}

code_l2_fn code_l2_select(void) {
    code_l2_fn f = code_l2_at(umapc_cpu_level());
    return f != NULL ? f : code_l2_scalar;
}
