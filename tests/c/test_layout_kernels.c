/* The layout's 2-D executors of every instruction level this CPU runs give the bytes of the scalar
 * executor on random op lists: attractions that record their move, attractions that do not, ops
 * without an attraction, 0 to 12 negative samples (some drawing the point itself), coincident and
 * near-coincident points, several values of b (b = 1 takes the shortcut past the polynomials), in
 * a fit (points in emb) and in a transform, without and with densMAP's term. */
#include "check.h"
#include "cpu.h"
#include "internal.h"
#include "layout_kernels.h"

#include <stdlib.h>
#include <string.h>

enum { N_POINTS = 300, N_OTHER = 400, MAX_OPS = 3000 };

typedef struct case_data {
    int32_t other[MAX_OPS], slot[MAX_OPS], n_neg[MAX_OPS], beg[N_POINTS + 1];
    uint32_t key[MAX_OPS];
    float self_in[2 * N_POINTS], emb[2 * N_OTHER];
} case_data;

static void make_case(case_data *d, uint64_t seed) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (int i = 0; i < 2 * N_OTHER; i++) {
        d->emb[i] = (float)(20.0 * umapc_rng_uniform(&rng) - 10.0);
    }
    /* a few points exactly on an other point, a few within 1e-3 of one */
    for (int i = 0; i < N_POINTS; i++) {
        int o = (int)umapc_rng_below(&rng, N_OTHER);
        double u = umapc_rng_uniform(&rng);
        float jitter = u < 0.1 ? 0.0f : (u < 0.2 ? 1e-3f : 5.0f);
        d->self_in[2 * i] = d->emb[2 * o] + jitter * (float)umapc_rng_uniform(&rng);
        d->self_in[2 * i + 1] = d->emb[2 * o + 1] + jitter * (float)umapc_rng_uniform(&rng);
    }
    /* in a fit, the block's points are emb's first ones */
    memcpy(d->emb, d->self_in, sizeof d->self_in);
    int k = 0, slot = 0;
    for (int i = 0; i < N_POINTS; i++) {
        d->beg[i] = k;
        int n_ops = (int)umapc_rng_below(&rng, 10); /* some points have none */
        for (int q = 0; q < n_ops; q++) {
            uint32_t o = umapc_rng_below(&rng, N_OTHER);
            double u = umapc_rng_uniform(&rng);
            d->other[k] = u < 0.9 ? (int32_t)(o | LAYOUT_ATTRACT_BIT) : LAYOUT_SKIP;
            d->slot[k] = u < 0.6 ? slot++ : LAYOUT_NO_SLOT;
            d->n_neg[k] = (int32_t)umapc_rng_below(&rng, 13);
            d->key[k] = (uint32_t)umapc_rng_next(&rng);
            k++;
        }
    }
    d->beg[N_POINTS] = k;
}

/* densMAP's per-point radii and membership sums and per-edge weights, at random in their ranges. */
typedef struct dens_data {
    float R[N_OTHER], re[N_OTHER], phi_sum[N_OTHER], mu[MAX_OPS];
    layout_dens view;
} dens_data;

static void make_dens(dens_data *dd, uint64_t seed) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (int i = 0; i < N_OTHER; i++) {
        dd->R[i] = (float)(4.0 * umapc_rng_uniform(&rng) - 2.0);
        dd->re[i] = (float)(3.0 * umapc_rng_uniform(&rng) - 1.5);
        dd->phi_sum[i] = (float)(0.5 + 10.0 * umapc_rng_uniform(&rng));
    }
    for (int e = 0; e < MAX_OPS; e++) {
        dd->mu[e] = (float)(0.05 + 0.95 * umapc_rng_uniform(&rng));
    }
    dd->view = (layout_dens){.R = dd->R,
                             .re = dd->re,
                             .phi_sum = dd->phi_sum,
                             .mu = dd->mu,
                             .lambda_mu_tot_n = 2.0f * 7.5f,
                             .re_std = 0.8f,
                             .re_mean = 0.1f,
                             .re_cov = 0.3f};
}

static void run(layout_exec2_fn fn, const case_data *d, const layout_consts *c, int fit,
                const layout_dens *dens, float *out, float *moves) {
    /* in a fit the block's points are emb's first N_POINTS; few other points, so that negatives
     * draw the point itself now and then */
    layout_block blk = {.other = d->other,
                        .slot = d->slot,
                        .n_neg = d->n_neg,
                        .key = d->key,
                        .beg = d->beg,
                        .lo = 0,
                        .n = N_POINTS,
                        .self_base = fit ? 0 : -1,
                        .n_tail = fit ? N_POINTS : N_OTHER,
                        .self_in = d->self_in,
                        .self_out = out,
                        .emb = d->emb,
                        .moves = moves,
                        .dens = dens};
    if (fn != NULL) {
        fn(&blk, c);
    } else {
        float cur[2], sum[2];
        umapc_layout_exec_scalar(&blk, c, 2, cur, sum);
    }
}

static void test_level(layout_exec2_fn fn, const char *name) {
    static case_data d;
    static dens_data dd;
    float want[2 * N_POINTS], got[2 * N_POINTS];
    static float want_moves[2 * MAX_OPS], got_moves[2 * MAX_OPS];
    const float bs[3] = {0.8950608781227859f, 1.0f, 0.58f};
    for (int t = 0; t < 24; t++) {
        make_case(&d, 100 + (uint64_t)(t % 12));
        make_dens(&dd, 500 + (uint64_t)t);
        /* densMAP is for fits only: its terms read the radii of the point itself */
        const layout_dens *dens = t >= 12 && t % 12 < 6 ? &dd.view : NULL;
        float a = 1.577f, b = bs[t % 3], gamma = t % 12 == 4 ? 0.0f : 1.0f;
        int fit = t % 12 < 6;
        layout_consts c = {.a = a,
                           .b = b,
                           .attract = -2.0f * a * b,
                           .repel = 2.0f * gamma * b,
                           .alpha = t % 6 < 3 ? 1.0f : 0.37f,
                           .b_is_one = b == 1.0f};
        memset(want_moves, 0, sizeof want_moves);
        memset(got_moves, 0, sizeof got_moves);
        run(NULL, &d, &c, fit, dens, want, want_moves);
        run(fn, &d, &c, fit, dens, got, got_moves);
        int same = memcmp(want, got, sizeof want) == 0 &&
                   memcmp(want_moves, got_moves, sizeof want_moves) == 0;
        if (!same) {
            fprintf(stderr, "level %s, case %d%s: differs from the scalar executor\n", name, t % 12,
                    dens != NULL ? " (densMAP)" : "");
        }
        CHECK(same);
        int finite = 1;
        for (int i = 0; i < 2 * N_POINTS; i++) {
            finite &= isfinite(want[i]) != 0;
        }
        CHECK(finite);
    }
}

/* A NaN exponent (b beyond float range made b * log2(d2) = inf * 0) used to reach an int cast,
 * undefined behaviour UBSan reports (found by tests/fuzz/fuzz_arrays.c); the result stays NaN.
 * Finite exponents keep their powers of two. */
static void test_exp2_nan(void) {
    volatile float nan = NAN;
    CHECK(isnan(layout_exp2(nan)));
    CHECK_CLOSE(layout_exp2(3.0f), 8.0, 1e-6, 0.0);
    CHECK_CLOSE(layout_exp2(-2.5f), 0.1767766953, 1e-6, 0.0);
}

int main(void) {
    test_exp2_nan();
    unsigned detected = umapc_cpu_detected();
    (void)detected;
#if defined(UMAPC_HAVE_X86_KERNELS)
    if (umapc_cpu_level_runs(detected, UMAPC_LEVEL_AVX2)) {
        test_level(umapc_layout_exec2_avx2, "avx2");
    }
    if (umapc_cpu_level_runs(detected, UMAPC_LEVEL_AVX512)) {
        test_level(umapc_layout_exec2_avx512, "avx512");
    }
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
    if (umapc_cpu_level_runs(detected, UMAPC_LEVEL_NEON)) {
        test_level(umapc_layout_exec2_neon, "neon");
    }
#endif
    printf("simd level: %s\n", umapc_cpu_level_name(umapc_cpu_level()));
    CHECK_DONE();
}
