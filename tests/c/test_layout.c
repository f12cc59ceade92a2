/* Layout optimisation: the a/b fit is a least-squares optimum, the SGD separates clusters, the
 * deterministic mode gives the same bytes for any thread count, transform leaves the tail alone. */
#include "check.h"
#include "layout_fixtures.h"
#include "internal.h"
#include "umapc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ab_loss(double a, double b, double spread, double min_dist) {
    double s = 0.0;
    for (int i = 0; i < 300; i++) {
        double x = 3.0 * spread * i / 299.0;
        double y = x < min_dist ? 1.0 : exp(-(x - min_dist) / spread);
        double r = 1.0 / (1.0 + a * pow(x, 2.0 * b)) - y;
        s += r * r;
    }
    return s;
}

static void test_ab(void) {
    double cases[3][2] = {{1.0, 0.1}, {1.0, 0.5}, {2.0, 0.0}};
    for (int c = 0; c < 3; c++) {
        double a, b;
        CHECK_OK(umapc_find_ab_params(cases[c][0], cases[c][1], &a, &b, &ce_));
        double best = ab_loss(a, b, cases[c][0], cases[c][1]);
        for (int da = -1; da <= 1; da++) {
            for (int db = -1; db <= 1; db++) {
                double other =
                    ab_loss(a * (1 + 1e-3 * da), b * (1 + 1e-3 * db), cases[c][0], cases[c][1]);
                CHECK(best <= other * (1 + 1e-9));
            }
        }
    }
    double a, b;
    CHECK(umapc_find_ab_params(0.0, 0.1, &a, &b, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
}

static double spread_of(const float *emb, size_t from, size_t to, double *cx, double *cy) {
    *cx = *cy = 0.0;
    for (size_t i = from; i < to; i++) {
        *cx += emb[2 * i] / (double)(to - from);
        *cy += emb[2 * i + 1] / (double)(to - from);
    }
    double s = 0.0;
    for (size_t i = from; i < to; i++) {
        s += hypot(emb[2 * i] - *cx, emb[2 * i + 1] - *cy) / (double)(to - from);
    }
    return s;
}

static void test_fit(void) {
    size_t half = 40, n = 2 * half;
    umapc_graph g;
    make_two_cliques(&g, half);
    float *init = malloc(2 * n * sizeof *init), *runs[4];
    random_embedding(init, n, 3);
    int threads[4] = {1, 2, 3, 1};
    for (int r = 0; r < 4; r++) {
        runs[r] = malloc(2 * n * sizeof *runs[r]);
        memcpy(runs[r], init, 2 * n * sizeof *init);
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 200;
        o.seed = r < 3 ? 11 : -1;
        o.n_threads = threads[r];
        CHECK_OK(umapc_optimize_layout(runs[r], n, NULL, 0, 2, &g, &o, NULL, &ce_));
    }
    CHECK(memcmp(runs[0], runs[1], 2 * n * sizeof *init) == 0);
    CHECK(memcmp(runs[0], runs[2], 2 * n * sizeof *init) == 0);
    for (int r = 0; r < 4; r += 3) { /* deterministic and Hogwild both separate the cliques */
        double ax, ay, bx, by;
        double sa = spread_of(runs[r], 0, half, &ax, &ay);
        double sb = spread_of(runs[r], half, n, &bx, &by);
        CHECK(hypot(ax - bx, ay - by) > 2.0 * (sa + sb));
    }
    for (int r = 0; r < 4; r++) {
        free(runs[r]);
    }
    free(init);
    umapc_graph_free(&g);
}

/* a, b, gamma and the learning rate beyond float range (finite as doubles) are refused: they used
 * to become inf in the float kernels, inf * 0 a NaN exponent and its int cast undefined behaviour
 * (found by tests/fuzz/fuzz_arrays.c). */
static void test_params_beyond_float(void) {
    size_t half = 10, n = 2 * half;
    umapc_graph g;
    make_two_cliques(&g, half);
    float emb[2 * 20];
    random_embedding(emb, n, 5);
    for (int which = 0; which < 4; which++) {
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 5;
        double *field[4] = {&o.a, &o.b, &o.repulsion_strength, &o.learning_rate};
        *field[which] = 1e300;
        umapc_error err = {0};
        CHECK(umapc_optimize_layout(emb, n, NULL, 0, 2, &g, &o, NULL, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT);
    }
    umapc_graph_free(&g);
}

/* Dropping every edge (i, j) with i > j and (i + j) % 5 == 0 makes the graph asymmetric: the
 * in-edge pass then applies the tails' pulls. With 2 and 3 columns (the SIMD and the generic
 * path) the deterministic mode must still give the same bytes for any thread count and separate
 * the cliques. */
static void test_asymmetric(void) {
    size_t half = 30, n = 2 * half;
    umapc_graph g;
    make_two_cliques(&g, half);
    size_t at = 0;
    int64_t start = 0;
    for (size_t i = 0; i < n; i++) {
        for (int64_t e = start; e < g.indptr[i + 1]; e++) {
            size_t j = (size_t)g.indices[e];
            if (!(i > j && (i + j) % 5 == 0)) {
                g.indices[at] = g.indices[e];
                g.data[at++] = g.data[e];
            }
        }
        start = g.indptr[i + 1];
        g.indptr[i + 1] = (int64_t)at;
    }
    g.nnz = at;
    for (size_t dim = 2; dim <= 3; dim++) {
        float *init = malloc(dim * n * sizeof *init), *runs[2];
        umapc_rng rng;
        umapc_rng_seed(&rng, 7);
        for (size_t i = 0; i < dim * n; i++) {
            init[i] = (float)(10.0 * umapc_rng_uniform(&rng));
        }
        for (int r = 0; r < 2; r++) {
            runs[r] = malloc(dim * n * sizeof *runs[r]);
            memcpy(runs[r], init, dim * n * sizeof *init);
            umapc_layout_options o;
            umapc_layout_options_init(&o);
            o.n_epochs = 200;
            o.seed = 5;
            o.n_threads = r + 1;
            CHECK_OK(umapc_optimize_layout(runs[r], n, NULL, 0, dim, &g, &o, NULL, &ce_));
        }
        CHECK(memcmp(runs[0], runs[1], dim * n * sizeof *init) == 0);
        double ca[3] = {0}, cb[3] = {0}, within = 0.0;
        for (size_t i = 0; i < n; i++) {
            for (size_t d = 0; d < dim; d++) {
                (i < half ? ca : cb)[d] += runs[0][i * dim + d] / (double)half;
            }
        }
        for (size_t i = 0; i < n; i++) {
            double *c = i < half ? ca : cb, r2 = 0.0;
            for (size_t d = 0; d < dim; d++) {
                r2 += (runs[0][i * dim + d] - c[d]) * (runs[0][i * dim + d] - c[d]);
            }
            within += sqrt(r2) / (double)n;
        }
        double between = 0.0;
        for (size_t d = 0; d < dim; d++) {
            between += (ca[d] - cb[d]) * (ca[d] - cb[d]);
        }
        CHECK(sqrt(between) > 4.0 * within);
        free(runs[0]);
        free(runs[1]);
        free(init);
    }
    umapc_graph_free(&g);
}

static void test_transform(void) {
    size_t n_train = 50, n_new = 5;
    float *train = malloc(2 * n_train * sizeof *train), *copy = malloc(2 * n_train * sizeof *copy);
    random_embedding(train, n_train, 5);
    memcpy(copy, train, 2 * n_train * sizeof *train);
    umapc_graph g = {n_new, n_train, 3 * n_new, NULL, NULL, NULL};
    g.indptr = malloc((n_new + 1) * sizeof *g.indptr);
    g.indices = malloc(g.nnz * sizeof *g.indices);
    g.data = malloc(g.nnz * sizeof *g.data);
    for (size_t i = 0; i < n_new; i++) {
        g.indptr[i] = (int64_t)(3 * i);
        for (size_t j = 0; j < 3; j++) {
            g.indices[3 * i + j] = (umapc_idx)(4 * i + j);
            g.data[3 * i + j] = 0.25f * (float)(j + 1);
        }
    }
    g.indptr[n_new] = (int64_t)g.nnz;
    float init[10];
    CHECK_OK(umapc_init_transform(&g, train, n_train, 2, init, &ce_));
    for (size_t i = 0; i < n_new; i++) {
        for (size_t d = 0; d < 2; d++) {
            double want = 0.0;
            for (size_t j = 0; j < 3; j++) {
                want += 0.25 * (double)(j + 1) / 1.5 * train[2 * (4 * i + j) + d];
            }
            CHECK_CLOSE(init[2 * i + d], want, 1e-5, 1e-5);
        }
    }
    umapc_layout_options o;
    umapc_layout_options_init(&o);
    o.n_epochs = 30;
    o.learning_rate = 0.25;
    o.seed = 1;
    CHECK_OK(umapc_optimize_layout(init, n_new, train, n_train, 2, &g, &o, NULL, &ce_));
    CHECK(memcmp(train, copy, 2 * n_train * sizeof *train) == 0);
    for (size_t i = 0; i < 2 * n_new; i++) {
        CHECK(isfinite(init[i]));
    }
    free(train);
    free(copy);
    umapc_graph_free(&g);
}

static void test_rescale(void) {
    float emb[200];
    random_embedding(emb, 100, 9);
    for (size_t i = 0; i < 200; i++) {
        emb[i] = emb[i] * 0.01f - 3.0f;
    }
    CHECK_OK(umapc_rescale_embedding(emb, 100, 2, 4, 1, 1e-4, &ce_));
    for (size_t d = 0; d < 2; d++) {
        float lo = emb[d], hi = emb[d];
        for (size_t i = 0; i < 100; i++) {
            lo = fminf(lo, emb[2 * i + d]);
            hi = fmaxf(hi, emb[2 * i + d]);
        }
        CHECK(lo == 0.0f);
        CHECK_CLOSE(hi, 10.0, 1e-6, 0.0);
    }
}

static int stop_at_three(void *user, const char *stage, size_t done, size_t total) {
    (void)stage;
    (void)total;
    *(size_t *)user = done;
    return done >= 3;
}

static void test_interrupt(void) {
    size_t half = 20, n = 40, seen = 0;
    umapc_graph g;
    make_two_cliques(&g, half);
    float emb[80];
    random_embedding(emb, n, 1);
    umapc_progress progress = {stop_at_three, &seen};
    umapc_error err = {0};
    CHECK(umapc_optimize_layout(emb, n, NULL, 0, 2, &g, NULL, &progress, &err) ==
          UMAPC_ERR_INTERRUPTED);
    CHECK(seen == 3);
    umapc_graph_free(&g);
}

/* A ring of n points, each tied to its `reach` nearest ring neighbours on either side with weights
 * falling with ring distance (so edges are sampled at different rates); with `drop`, some edges are
 * dropped so that in-edges differ from out-edges. */
static void make_ring(umapc_graph *g, size_t n, size_t reach, int drop) {
    g->n_rows = g->n_cols = n;
    g->indptr = malloc((n + 1) * sizeof *g->indptr);
    g->indices = malloc(n * 2 * reach * sizeof *g->indices);
    g->data = malloc(n * 2 * reach * sizeof *g->data);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        g->indptr[i] = (int64_t)at;
        for (size_t j = (i + n - reach) % n, t = 0; t <= 2 * reach; t++, j = (j + 1) % n) {
            size_t ring = t > reach ? t - reach : reach - t;
            if (ring == 0 || (drop && (i * 7 + j) % 11 == 0)) {
                continue;
            }
            g->indices[at] = (umapc_idx)j;
            g->data[at++] = 1.0f / (float)ring;
        }
    }
    g->indptr[n] = (int64_t)at;
    g->nnz = at;
    /* columns ascending within a row */
    for (size_t i = 0; i < n; i++) {
        for (int64_t a = g->indptr[i] + 1; a < g->indptr[i + 1]; a++) {
            for (int64_t b = a; b > g->indptr[i] && g->indices[b - 1] > g->indices[b]; b--) {
                umapc_idx ti = g->indices[b];
                float td = g->data[b];
                g->indices[b] = g->indices[b - 1];
                g->data[b] = g->data[b - 1];
                g->indices[b - 1] = ti;
                g->data[b - 1] = td;
            }
        }
    }
}

/* Enough edges for several threads and many blocks of points, and a negative rate that needs
 * several rounds of negatives per sampling, on a symmetric and an asymmetric graph (different
 * ways of finding the sampled in-edges): the same bytes for any thread count, and ring neighbours
 * end up much closer than random pairs. */
static void test_many_blocks(int drop) {
    size_t n = 6000;
    umapc_graph g;
    make_ring(&g, n, 10, drop);
    float *init = malloc(2 * n * sizeof *init), *runs[3];
    random_embedding(init, n, 9);
    for (int r = 0; r < 3; r++) {
        runs[r] = malloc(2 * n * sizeof *runs[r]);
        memcpy(runs[r], init, 2 * n * sizeof *init);
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 100;
        o.negative_sample_rate = 11.0;
        o.seed = 21;
        o.n_threads = r + 1;
        CHECK_OK(umapc_optimize_layout(runs[r], n, NULL, 0, 2, &g, &o, NULL, &ce_));
    }
    CHECK(memcmp(runs[0], runs[1], 2 * n * sizeof *init) == 0);
    CHECK(memcmp(runs[0], runs[2], 2 * n * sizeof *init) == 0);
    double near = 0.0, far = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *a = runs[0] + 2 * i, *b = runs[0] + 2 * ((i + 1) % n);
        const float *c = runs[0] + 2 * ((i * 2654435761u) % n);
        CHECK(isfinite(a[0]) && isfinite(a[1]));
        near += hypot(a[0] - b[0], a[1] - b[1]);
        far += hypot(a[0] - c[0], a[1] - c[1]);
    }
    CHECK(near < 0.2 * far);
    for (int r = 0; r < 3; r++) {
        free(runs[r]);
    }
    free(init);
    umapc_graph_free(&g);
}

/* A caller's output metric that is the built-in manhattan: the custom route must give the same
 * bytes as UMAPC_OUTPUT_MANHATTAN, for any thread count; no function is refused. */
static float custom_manhattan_grad(const float *x, const float *y, float *grad, int64_t dim,
                                   void *ctx) {
    float d = 0.0f;
    __atomic_fetch_add((long *)ctx, 1, __ATOMIC_RELAXED);
    CHECK(umapc_output_metric_grad(UMAPC_OUTPUT_MANHATTAN, 2.0, NULL, 0, x, y, (size_t)dim, &d,
                                   grad, NULL) == UMAPC_OK);
    return d;
}

static void test_custom_output(void) {
    size_t half = 30, n = 2 * half;
    umapc_graph g;
    make_two_cliques(&g, half);
    float *init = malloc(2 * n * sizeof *init), *runs[3];
    random_embedding(init, n, 4);
    long calls = 0;
    for (int r = 0; r < 3; r++) {
        runs[r] = malloc(2 * n * sizeof *runs[r]);
        memcpy(runs[r], init, 2 * n * sizeof *init);
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 100;
        o.seed = 3;
        o.n_threads = r == 2 ? 2 : 1;
        o.output_metric = r == 0 ? UMAPC_OUTPUT_MANHATTAN : UMAPC_OUTPUT_CUSTOM;
        if (r > 0) {
            o.output_fn = custom_manhattan_grad;
            o.output_ctx = &calls;
        }
        CHECK_OK(umapc_optimize_layout(runs[r], n, NULL, 0, 2, &g, &o, NULL, &ce_));
    }
    CHECK(calls > 0);
    CHECK(memcmp(runs[0], runs[1], 2 * n * sizeof *init) == 0);
    CHECK(memcmp(runs[0], runs[2], 2 * n * sizeof *init) == 0);
    umapc_layout_options o;
    umapc_layout_options_init(&o);
    o.output_metric = UMAPC_OUTPUT_CUSTOM;
    CHECK(umapc_optimize_layout(runs[0], n, NULL, 0, 2, &g, &o, NULL, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    for (int r = 0; r < 3; r++) {
        free(runs[r]);
    }
    free(init);
    umapc_graph_free(&g);
}

/* Output metrics with a parameter array: the array is checked against the dimension up front,
 * and a good one gives a finite layout; the gaussian energies need their own dimensions. */
static void test_output_params(void) {
    size_t half = 20, n = 2 * half;
    umapc_graph g;
    make_two_cliques(&g, half);
    float *emb = malloc(5 * n * sizeof *emb);
    float ones[25], vinv[25] = {0}, neg[3] = {1.0f, -1.0f, 1.0f}, nan_v[3] = {1.0f, NAN, 1.0f};
    for (int i = 0; i < 25; i++) {
        ones[i] = 1.0f;
    }
    for (int i = 0; i < 5; i++) {
        vinv[i * 5 + i] = 2.0f;
    }
    struct {
        int metric;
        size_t dim;
        const float *params;
        size_t n_params;
        int ok;
    } cases[] = {
        {UMAPC_OUTPUT_SEUCLIDEAN, 3, ones, 3, 1},
        {UMAPC_OUTPUT_SEUCLIDEAN, 3, ones, 2, 0},
        {UMAPC_OUTPUT_SEUCLIDEAN, 3, NULL, 0, 0},
        {UMAPC_OUTPUT_SEUCLIDEAN, 3, neg, 3, 0},
        {UMAPC_OUTPUT_SEUCLIDEAN, 3, nan_v, 3, 0},
        {UMAPC_OUTPUT_WMINKOWSKI, 3, ones, 3, 1},
        {UMAPC_OUTPUT_WMINKOWSKI, 3, neg, 3, 0},
        {UMAPC_OUTPUT_MAHALANOBIS, 5, vinv, 25, 1},
        {UMAPC_OUTPUT_MAHALANOBIS, 3, vinv, 25, 0},
        {UMAPC_OUTPUT_SYMMETRIC_KL, 3, NULL, 0, 1},
        {UMAPC_OUTPUT_SYMMETRIC_KL, 3, neg + 1, 1, 0},
        {UMAPC_OUTPUT_SOFTMAX_HELLINGER, 3, NULL, 0, 1},
        {UMAPC_OUTPUT_SOFTMAX_HELLINGER, 3, ones, 1, 0},
        {UMAPC_OUTPUT_SPHERICAL_GAUSSIAN_ENERGY, 3, NULL, 0, 1},
        {UMAPC_OUTPUT_SPHERICAL_GAUSSIAN_ENERGY, 2, NULL, 0, 0},
        {UMAPC_OUTPUT_DIAGONAL_GAUSSIAN_ENERGY, 4, NULL, 0, 1},
        {UMAPC_OUTPUT_DIAGONAL_GAUSSIAN_ENERGY, 5, NULL, 0, 0},
        {UMAPC_OUTPUT_GAUSSIAN_ENERGY, 5, NULL, 0, 1},
        {UMAPC_OUTPUT_GAUSSIAN_ENERGY, 4, NULL, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t dim = cases[c].dim;
        random_embedding(emb, n * dim / 2, 7); /* n x dim coordinates */
        for (size_t i = 0; i < n * dim; i++) {
            emb[i] = fabsf(emb[i]) + 0.1f; /* inside symmetric_kl's and the widths' domains */
        }
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 30;
        o.seed = 1;
        o.output_metric = cases[c].metric;
        o.output_params = cases[c].params;
        o.n_output_params = cases[c].n_params;
        umapc_status st = umapc_optimize_layout(emb, n, NULL, 0, dim, &g, &o, NULL, NULL);
        CHECK(st == (cases[c].ok ? UMAPC_OK : UMAPC_ERR_INVALID_ARGUMENT));
        for (size_t i = 0; cases[c].ok && i < n * dim; i++) {
            CHECK(isfinite(emb[i]));
        }
        float dist = 0.0f, grad[5];
        st = umapc_output_metric_grad(cases[c].metric, 2.0, cases[c].params, cases[c].n_params, emb,
                                      emb + dim, dim, &dist, grad, NULL);
        CHECK(st == (cases[c].ok ? UMAPC_OK : UMAPC_ERR_INVALID_ARGUMENT));
    }
    free(emb);
    umapc_graph_free(&g);
}

/* Stops the layout once `*(size_t *)user` epochs have run. */
static int stop_after(void *user, const char *stage, size_t done, size_t total) {
    (void)stage;
    (void)total;
    return done >= *(size_t *)user;
}

/* Snapshots (umap-learn's list of n_epochs): the one after all epochs is the result, a repeated
 * count gives two equal copies, one after 7 of 20 epochs equals a 20-epoch run interrupted after 7
 * (which writes its positions back in the caller's order, as a fit runs on relabelled points),
 * the same bytes for any thread count, for the euclidean and a generic output metric; bad lists
 * and a missing buffer are refused. */
static void test_snapshots(void) {
    size_t half = 30, n = 2 * half, floats = 2 * n;
    umapc_graph g;
    make_two_cliques(&g, half);
    float *init = malloc(floats * sizeof *init), *head = malloc(floats * sizeof *head);
    float *snaps = malloc(4 * floats * sizeof *snaps), *again = malloc(4 * floats * sizeof *again);
    random_embedding(init, n, 9);
    const int32_t epochs[4] = {1, 7, 7, 20};
    for (int metric = 0; metric < 2; metric++) {
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 20;
        o.seed = 5;
        o.output_metric = metric ? UMAPC_OUTPUT_MANHATTAN : UMAPC_OUTPUT_EUCLIDEAN;
        o.snapshot_epochs = epochs;
        o.n_snapshots = 4;
        for (int run = 0; run < 2; run++) {
            memcpy(head, init, floats * sizeof *head);
            o.n_threads = run ? 3 : 1;
            o.snapshots = run ? again : snaps;
            CHECK_OK(umapc_optimize_layout(head, n, NULL, 0, 2, &g, &o, NULL, &ce_));
        }
        CHECK(memcmp(snaps, again, 4 * floats * sizeof *snaps) == 0);
        CHECK(memcmp(snaps + 3 * floats, head, floats * sizeof *head) == 0);
        CHECK(memcmp(snaps + floats, snaps + 2 * floats, floats * sizeof *snaps) == 0);
        CHECK(memcmp(snaps, snaps + floats, floats * sizeof *snaps) != 0);
        CHECK(memcmp(snaps + floats, head, floats * sizeof *snaps) != 0);
        size_t stop = 7;
        umapc_progress progress = {stop_after, &stop};
        umapc_layout_options plain = o;
        plain.n_snapshots = 0;
        plain.snapshots = NULL;
        plain.snapshot_epochs = NULL;
        memcpy(head, init, floats * sizeof *head);
        umapc_error err = {0};
        CHECK(umapc_optimize_layout(head, n, NULL, 0, 2, &g, &plain, &progress, &err) ==
              UMAPC_ERR_INTERRUPTED);
        CHECK(memcmp(snaps + floats, head, floats * sizeof *head) == 0);
    }
    const int32_t bad[3][2] = {{0, 5}, {7, 3}, {5, 21}};
    for (int c = 0; c < 4; c++) {
        umapc_layout_options o;
        umapc_layout_options_init(&o);
        o.n_epochs = 20;
        o.snapshot_epochs = c < 3 ? bad[c] : epochs;
        o.n_snapshots = 2;
        o.snapshots = c < 3 ? snaps : NULL;
        memcpy(head, init, floats * sizeof *head);
        umapc_error err = {0};
        CHECK(umapc_optimize_layout(head, n, NULL, 0, 2, &g, &o, NULL, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT);
        CHECK(memcmp(head, init, floats * sizeof *head) == 0);
    }
    free(init);
    free(head);
    free(snaps);
    free(again);
    umapc_graph_free(&g);
}

int main(void) {
    test_ab();
    test_fit();
    test_asymmetric();
    test_many_blocks(0);
    test_many_blocks(1);
    test_transform();
    test_rescale();
    test_interrupt();
    test_params_beyond_float();
    test_custom_output();
    test_output_params();
    test_snapshots();
    CHECK_DONE();
}
