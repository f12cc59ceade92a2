/* 8-bit code kernels (VNNI dot, 4x4 tiles) against the scalar references and a plain squared
 * difference, on odd lengths and the extreme bytes 0 and 255. */
#include "check.h"
#include "codes.h"
#include "hnsw_internal.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Random bytes, one in four forced to 0 or 255 so both ends of the range are exercised. */
static void fill_bytes(uint8_t *x, size_t n, umapc_rng *rng) {
    for (size_t i = 0; i < n; i++) {
        uint32_t r = umapc_rng_below(rng, 1024);
        x[i] = r < 128 ? 0 : (r < 256 ? 255 : (uint8_t)(r & 255));
    }
}

static int64_t sq_diff(const uint8_t *a, const uint8_t *b, size_t dim) {
    int64_t s = 0;
    for (size_t i = 0; i < dim; i++) {
        int64_t d = (int64_t)a[i] - b[i];
        s += d * d;
    }
    return s;
}

/* The scalar references themselves: the dot formulation rebuilds the squared distance. */
static void test_scalar(const uint8_t *rows, size_t dim) {
    const uint8_t *a = rows, *b = rows + dim;
    int32_t na, nb, sa, sb;
    code_row_terms(a, dim, &na, &sa);
    code_row_terms(b, dim, &nb, &sb);
    float d = code_l2_from_dot(na, nb, sa, code_dot_flip_scalar(a, b, dim));
    CHECK(d == (float)sq_diff(a, b, dim));
    const uint8_t *flip[4] = {a, b, a, b}, *plain[4] = {b, a, a, b};
    int32_t tile[16];
    code_dot_flip_tile_scalar(flip, 2, plain, 3, dim, tile);
    for (size_t r = 0; r < 2; r++) {
        for (size_t c = 0; c < 3; c++) {
            CHECK(tile[r * 4 + c] == code_dot_flip_scalar(plain[c], flip[r], dim));
        }
    }
}

#if defined(UMAPC_HAVE_X86_KERNELS)
static void test_vnni(const uint8_t *rows, size_t dim) {
    const uint8_t *flip[4], *plain[4];
    for (size_t r = 0; r < 4; r++) {
        flip[r] = rows + r * dim;
        plain[r] = rows + (4 + r) * dim;
    }
    plain[3] = flip[1]; /* a repeated row, as in padded tiles */
    CHECK(code_dot_flip_vnni(flip[0], plain[0], dim) ==
          code_dot_flip_scalar(flip[0], plain[0], dim));
    int32_t got[16], want[16];
    code_dot_flip_4x4_vnni(flip, plain, dim, got);
    code_dot_flip_4x4_scalar(flip, plain, dim, want);
    for (size_t e = 0; e < 16; e++) {
        CHECK(got[e] == want[e]);
    }
    for (size_t nf = 1; nf <= 4; nf++) {
        for (size_t np = 1; np <= 4; np++) {
            code_dot_flip_tile_vnni(flip, nf, plain, np, dim, got);
            for (size_t r = 0; r < nf; r++) {
                for (size_t c = 0; c < np; c++) {
                    CHECK(got[r * 4 + c] == want[r * 4 + c]);
                }
            }
        }
    }
}
#endif

/* Float rows to codes: pixel rows convert exactly with their row terms, and one value that is
 * not an integer within 0..255 (a fraction, below 0, above 255, NaN) fails the row; the SIMD kernel
 * (VNNI) agrees with the scalar one everywhere. */
static void test_from_floats(const uint8_t *bytes, size_t dim, code_from_floats_fn simd) {
    float *x = malloc(dim * sizeof *x);
    uint8_t *got = malloc(dim), *want = malloc(dim);
    for (size_t i = 0; i < dim; i++) {
        x[i] = (float)bytes[i];
    }
    int32_t n2, s128, rn2, rs128;
    code_row_terms(bytes, dim, &rn2, &rs128);
    CHECK(code_from_floats_scalar(x, dim, want, &n2, &s128) == 1);
    CHECK(memcmp(want, bytes, dim) == 0 && n2 == rn2 && s128 == rs128);
    if (simd != NULL) {
        CHECK(simd(x, dim, got, &n2, &s128) == 1);
        CHECK(memcmp(got, bytes, dim) == 0 && n2 == rn2 && s128 == rs128);
    }
    const float bad[4] = {0.5f, -1.0f, 256.0f, NAN};
    for (size_t b = 0; b < 4; b++) {
        size_t at = (b * 7919) % dim;
        float keep = x[at];
        x[at] = (float)bytes[at] * (b == 0) + bad[b]; /* a fraction near the value it replaces */
        CHECK(code_from_floats_scalar(x, dim, want, NULL, NULL) == 0);
        if (simd != NULL) {
            CHECK(simd(x, dim, got, NULL, NULL) == 0);
            CHECK(memcmp(got, want, dim) == 0);
        }
        x[at] = keep;
    }
    free(x);
    free(got);
    free(want);
}

/* The squared-difference and mixed code kernels of every level, with what each needs beyond its
 * level (dotprod for one NEON variant). */
typedef struct u8_variant {
    umapc_level level;
    unsigned needs;
    hnsw_code_fn l2;
    float (*mixed)(const float *q, const uint8_t *c, size_t dim);
} u8_variant;

static const u8_variant u8_variants[] = {
    {UMAPC_LEVEL_SCALAR, 0, code_l2_scalar, code_mixed_scalar},
#if defined(UMAPC_HAVE_X86_KERNELS)
    {UMAPC_LEVEL_AVX2, 0, code_l2_avx2, code_mixed_avx2},
    {UMAPC_LEVEL_AVX512, 0, code_l2_avx512, code_mixed_avx512},
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    {UMAPC_LEVEL_NEON, 0, code_l2_neon, code_mixed_neon},
    {UMAPC_LEVEL_NEON, UMAPC_CPU_DOTPROD, code_l2_dotprod, code_mixed_neon},
#endif
};
#define N_U8_VARIANTS (sizeof u8_variants / sizeof u8_variants[0])

static int variant_runs(const u8_variant *v) {
    unsigned detected = umapc_cpu_detected();
    return umapc_cpu_level_runs(detected, v->level) && (detected & v->needs) == v->needs;
}

/* The HNSW search kernels on codes (squared difference of two code rows; a float query against
 * code bytes) at every instruction level this CPU has, against double-precision sums. */
static void test_hnsw_kernels(const uint8_t *rows, size_t dim, umapc_rng *rng) {
    const uint8_t *a = rows, *b = rows + dim;
    float *q = malloc(dim * sizeof *q);
    double want = 0.0;
    for (size_t i = 0; i < dim; i++) {
        q[i] = (float)(300.0 * umapc_rng_uniform(rng) - 20.0);
        double d = (double)q[i] - (double)b[i];
        want += d * d;
    }
    float exact = (float)sq_diff(a, b, dim);
    for (size_t v = 0; v < N_U8_VARIANTS; v++) {
        if (variant_runs(&u8_variants[v])) {
            CHECK(u8_variants[v].l2(a, b, dim) == exact);
            CHECK_CLOSE(u8_variants[v].mixed(q, b, dim), want, 1e-5, 1e-3);
        }
    }
    free(q);
}

/* Which variants run, and that the choosers pick among them at the level in use. */
static void test_u8_choice(void) {
    int n_run = 0;
    for (size_t v = 0; v < N_U8_VARIANTS; v++) {
        n_run += variant_runs(&u8_variants[v]);
    }
    CHECK(n_run >= 1);
    for (int l = 0; l < 4; l++) {
        hnsw_code_fn f = code_l2_at((umapc_level)l);
        CHECK((f != NULL) == umapc_cpu_level_runs(umapc_cpu_detected(), (umapc_level)l));
        int known = f == NULL;
        for (size_t v = 0; v < N_U8_VARIANTS; v++) {
            known |= u8_variants[v].level == (umapc_level)l && u8_variants[v].l2 == f &&
                     variant_runs(&u8_variants[v]);
        }
        CHECK(known);
    }
    CHECK(code_l2_select() == code_l2_at(umapc_cpu_level()));
    printf("code kernels: %d variants run here (level in use: %s)\n", n_run, umapc_simd_level());
}

/* Column ranges of strided rows against a serial scan, for 1 and 3 threads; one non-integer value
 * anywhere clears the integer flag. */
static void test_column_ranges(umapc_rng *rng) {
    size_t n = 1001, dim = 37, stride = 41;
    float *x = malloc(n * stride * sizeof *x), lo[37], hi[37], want_lo[37], want_hi[37];
    for (size_t i = 0; i < n * stride; i++) {
        x[i] = (float)umapc_rng_below(rng, 600) - 300.0f;
    }
    for (size_t c = 0; c < dim; c++) {
        want_lo[c] = want_hi[c] = x[c];
        for (size_t i = 1; i < n; i++) {
            want_lo[c] = fminf(want_lo[c], x[i * stride + c]);
            want_hi[c] = fmaxf(want_hi[c], x[i * stride + c]);
        }
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        CHECK(code_column_ranges(x, n, dim, stride, threads, lo, hi) == 1);
        CHECK(memcmp(lo, want_lo, sizeof lo) == 0 && memcmp(hi, want_hi, sizeof hi) == 0);
    }
    x[777 * stride + 5] += 0.5f;
    CHECK(code_column_ranges(x, n, dim, stride, 3, lo, hi) == 0);
    x[777 * stride + 5] -= 0.5f;
    x[777 * stride + dim] = 0.5f; /* padding between rows is not read */
    CHECK(code_column_ranges(x, n, dim, stride, 3, lo, hi) == 1);
    free(x);
}

int main(void) {
    /* The VNNI kernels are tested wherever the CPU has them; the choosers follow the level in use,
     * which UMAPC_SIMD may have lowered. */
    int use = code_use_vnni();
    CHECK((code_dot_flip_select() != NULL) == use);
    CHECK((code_dot_flip_4x4_select() != NULL) == use);
    CHECK((code_dot_flip_tile_select() != NULL) == use);
    code_from_floats_fn simd_from_floats = NULL;
    int vnni = 0;
#if defined(UMAPC_HAVE_X86_KERNELS)
    CHECK(code_from_floats_select() == (use ? code_from_floats_vnni : code_from_floats_scalar));
    vnni = (umapc_cpu_detected() & UMAPC_CPU_AVX512VNNI) != 0;
    simd_from_floats = vnni ? code_from_floats_vnni : NULL;
#else
    CHECK(code_from_floats_select() == code_from_floats_scalar);
#endif
    if (!vnni) {
        printf("no AVX-512 VNNI: the dot-product kernels are tested in scalar only\n");
    }
    test_u8_choice();
    umapc_rng rng;
    umapc_rng_seed(&rng, 7);
    test_column_ranges(&rng);
    size_t max_dim = 300;
    uint8_t *rows = malloc(8 * max_dim);
    for (size_t dim = 1; dim <= max_dim; dim++) {
        for (int rep = 0; rep < 3; rep++) {
            fill_bytes(rows, 8 * dim, &rng);
            test_scalar(rows, dim);
            test_from_floats(rows, dim, simd_from_floats);
            test_hnsw_kernels(rows, dim, &rng);
#if defined(UMAPC_HAVE_X86_KERNELS)
            if (vnni) {
                test_vnni(rows, dim);
            }
#endif
        }
    }
    free(rows);
    CHECK_DONE();
}
