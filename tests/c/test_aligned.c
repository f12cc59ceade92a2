/* The aligned layout: the pull brings related points of neighbouring slices together without
 * undoing each slice's layout, the result does not depend on the thread count, fixed slices stay
 * put, a stop request is honoured, bad arguments are refused. */
#include "check.h"
#include "layout_fixtures.h"
#include "internal.h"
#include "umapc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { HALF = 60, N = 2 * HALF, SLICES = 3 };

typedef struct problem {
    umapc_graph g;
    float emb[SLICES][2 * N];
    umapc_idx rel[SLICES - 1][N];
    umapc_aligned_slice slices[SLICES];
    const umapc_idx *rels[SLICES - 1];
} problem;

/* Three copies of the two cliques; slice i + 1's point p is slice i's point (p + 7) % N, so that
 * the relations are not the identity, and a tenth of the points have no relation. */
static void make_problem(problem *pb, uint64_t seed) {
    memset(pb, 0, sizeof *pb);
    make_two_cliques(&pb->g, HALF);
    for (int m = 0; m < SLICES; m++) {
        random_embedding(pb->emb[m], N, seed + (uint64_t)m);
        pb->slices[m] = (umapc_aligned_slice){pb->emb[m], N, &pb->g, 0};
    }
    for (int i = 0; i + 1 < SLICES; i++) {
        for (size_t p = 0; p < N; p++) {
            pb->rel[i][p] = p % 10 == 3 ? -1 : (umapc_idx)((p + N - 7) % N);
        }
        pb->rels[i] = pb->rel[i];
    }
}

static void free_problem(problem *pb) {
    free(pb->g.indptr);
    free(pb->g.indices);
    free(pb->g.data);
}

/* Mean distance between related points of consecutive slices, over the mean distance between
 * random pairs of one slice (the embedding's scale). */
static double misalignment(const problem *pb) {
    double rel = 0.0, scale = 0.0;
    size_t n_rel = 0, n_scale = 0;
    for (int i = 0; i + 1 < SLICES; i++) {
        for (size_t p = 0; p < N; p++) {
            umapc_idx q = pb->rel[i][p];
            if (q >= 0) {
                rel += hypot(pb->emb[i][2 * p] - pb->emb[i + 1][2 * q],
                             pb->emb[i][2 * p + 1] - pb->emb[i + 1][2 * q + 1]);
                n_rel++;
            }
            size_t r = (p * 37 + 11) % N;
            scale += hypot(pb->emb[i][2 * p] - pb->emb[i][2 * r],
                           pb->emb[i][2 * p + 1] - pb->emb[i][2 * r + 1]);
            n_scale++;
        }
    }
    return (rel / (double)n_rel) / (scale / (double)n_scale);
}

/* Mean distance between the cliques' centres over their mean spread, lowest over the slices. */
static double separation(const problem *pb) {
    double worst = INFINITY;
    for (int m = 0; m < SLICES; m++) {
        double c[2][2] = {{0}}, spread = 0.0;
        for (size_t p = 0; p < N; p++) {
            c[p >= HALF][0] += pb->emb[m][2 * p] / HALF;
            c[p >= HALF][1] += pb->emb[m][2 * p + 1] / HALF;
        }
        for (size_t p = 0; p < N; p++) {
            spread += hypot(pb->emb[m][2 * p] - c[p >= HALF][0],
                            pb->emb[m][2 * p + 1] - c[p >= HALF][1]) /
                      N;
        }
        double sep = hypot(c[0][0] - c[1][0], c[0][1] - c[1][1]) / spread;
        worst = sep < worst ? sep : worst;
    }
    return worst;
}

static void run(problem *pb, double lambda, int n_threads, umapc_status expect) {
    umapc_aligned_options o;
    umapc_aligned_options_init(&o);
    o.layout.n_epochs = 100;
    o.layout.seed = 5;
    o.layout.n_threads = n_threads;
    o.regularisation = lambda;
    umapc_error err = {0};
    umapc_status st = umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err);
    if (st != expect) {
        fprintf(stderr, "optimize_aligned: %d (%s), expected %d\n", (int)st, err.message,
                (int)expect);
    }
    CHECK(st == expect);
}

static void test_alignment(void) {
    problem *free_run = malloc(sizeof *free_run), *aligned = malloc(sizeof *aligned);
    make_problem(free_run, 1);
    make_problem(aligned, 1);
    run(free_run, 0.0, 2, UMAPC_OK);
    run(aligned, 1e-2, 2, UMAPC_OK);
    double loose = misalignment(free_run), tight = misalignment(aligned);
    CHECK(tight < 0.5 * loose);
    CHECK(separation(aligned) > 3.0);
    CHECK(separation(free_run) > 3.0);
    /* a pull far stronger than umap-learn's default lands on the related points, finite */
    problem *strong = malloc(sizeof *strong);
    make_problem(strong, 1);
    run(strong, 10.0, 2, UMAPC_OK);
    for (int m = 0; m < SLICES; m++) {
        for (size_t i = 0; i < 2 * N; i++) {
            CHECK(isfinite(strong->emb[m][i]));
        }
    }
    CHECK(misalignment(strong) < tight);
    free_problem(free_run);
    free_problem(aligned);
    free_problem(strong);
    free(free_run);
    free(aligned);
    free(strong);
}

static void test_threads(void) {
    problem *runs[3];
    int threads[3] = {1, 2, 3};
    for (int r = 0; r < 3; r++) {
        runs[r] = malloc(sizeof *runs[r]);
        make_problem(runs[r], 9);
        run(runs[r], 1e-2, threads[r], UMAPC_OK);
    }
    CHECK(memcmp(runs[0]->emb, runs[1]->emb, sizeof runs[0]->emb) == 0);
    CHECK(memcmp(runs[0]->emb, runs[2]->emb, sizeof runs[0]->emb) == 0);
    for (int r = 0; r < 3; r++) {
        free_problem(runs[r]);
        free(runs[r]);
    }
}

/* update(): the slices fitted before keep their bytes and pull the new one toward them. */
static void test_fixed(void) {
    problem *pb = malloc(sizeof *pb), *loose = malloc(sizeof *loose);
    make_problem(pb, 3);
    make_problem(loose, 3);
    for (int m = 0; m < SLICES - 1; m++) {
        pb->slices[m].fixed = loose->slices[m].fixed = 1;
    }
    float before[SLICES - 1][2 * N];
    memcpy(before, pb->emb, sizeof before);
    run(pb, 1e-2, 2, UMAPC_OK);
    run(loose, 0.0, 2, UMAPC_OK);
    CHECK(memcmp(before, pb->emb, sizeof before) == 0);
    double d_pull = 0.0, d_loose = 0.0;
    for (size_t p = 0; p < N; p++) {
        umapc_idx q = pb->rel[SLICES - 2][p];
        if (q >= 0) {
            const float *x = pb->emb[SLICES - 2] + 2 * p, *y = pb->emb[SLICES - 1] + 2 * q;
            const float *ly = loose->emb[SLICES - 1] + 2 * q;
            d_pull += hypot(x[0] - y[0], x[1] - y[1]);
            d_loose += hypot(x[0] - ly[0], x[1] - ly[1]);
        }
    }
    CHECK(d_pull < 0.5 * d_loose);
    free_problem(pb);
    free_problem(loose);
    free(pb);
    free(loose);
}

static int stop_at_four(void *user, const char *stage, size_t done, size_t total) {
    (void)total;
    *(int *)user = (int)done;
    return strcmp(stage, "optimize layout") == 0 && done == 4;
}

static void test_interrupt(void) {
    problem *pb = malloc(sizeof *pb);
    make_problem(pb, 4);
    int seen = 0;
    umapc_progress progress = {stop_at_four, &seen};
    umapc_error err = {0};
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, NULL, &progress, &err) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(seen == 4);
    for (int m = 0; m < SLICES; m++) {
        for (size_t i = 0; i < 2 * N; i++) {
            CHECK(isfinite(pb->emb[m][i]));
        }
    }
    free_problem(pb);
    free(pb);
}

static void test_bad_input(void) {
    problem *pb = malloc(sizeof *pb);
    make_problem(pb, 2);
    umapc_error err = {0};
    umapc_aligned_options o;
    umapc_aligned_options_init(&o);
    CHECK(o.regularisation == 1e-2 && o.window_size == 3);
    pb->rel[1][5] = N;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "relations[1][5]") != NULL);
    pb->rel[1][5] = -2;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    pb->rel[1][5] = 0;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, NULL, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 0, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    o.regularisation = -1.0;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    o.regularisation = NAN;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    umapc_aligned_options_init(&o);
    o.layout.densmap = 1;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    umapc_aligned_options_init(&o);
    o.layout.a = -1.0; /* the slices' layouts check their own options */
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    umapc_aligned_options_init(&o);
    pb->slices[2].n = N - 1; /* its graph has N rows */
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    pb->slices[2].n = N;
    pb->slices[1].embedding = NULL;
    CHECK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &err) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    free_problem(pb);
    free(pb);
}

/* One slice, or a window of 0: the slices' layouts alone, still finite and deterministic. */
static void test_degenerate(void) {
    problem *pb = malloc(sizeof *pb);
    make_problem(pb, 6);
    umapc_aligned_options o;
    umapc_aligned_options_init(&o);
    o.layout.n_epochs = 20;
    CHECK_OK(umapc_optimize_aligned(pb->slices, 1, 2, NULL, &o, NULL, &ce_));
    o.window_size = 0;
    CHECK_OK(umapc_optimize_aligned(pb->slices, SLICES, 2, pb->rels, &o, NULL, &ce_));
    for (int m = 0; m < SLICES; m++) {
        for (size_t i = 0; i < 2 * N; i++) {
            CHECK(isfinite(pb->emb[m][i]));
        }
    }
    free_problem(pb);
    free(pb);
}

int main(void) {
    test_alignment();
    test_threads();
    test_fixed();
    test_interrupt();
    test_bad_input();
    test_degenerate();
    CHECK_DONE();
}
