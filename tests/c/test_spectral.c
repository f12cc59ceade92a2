/* Spectral initialisation on graphs whose Laplacian eigenvectors are known in closed form. */
#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Cycle graph(s): `rings` disjoint cycles of n vertices each, unit weights. */
static void make_rings(umapc_graph *g, size_t rings, size_t n) {
    size_t total = rings * n;
    g->n_rows = g->n_cols = total;
    g->nnz = 2 * total;
    g->indptr = malloc((total + 1) * sizeof *g->indptr);
    g->indices = malloc(g->nnz * sizeof *g->indices);
    g->data = malloc(g->nnz * sizeof *g->data);
    for (size_t r = 0; r < rings; r++) {
        for (size_t i = 0; i < n; i++) {
            size_t v = r * n + i;
            size_t a = r * n + (i + n - 1) % n, b = r * n + (i + 1) % n;
            g->indptr[v] = (int64_t)(2 * v);
            g->indices[2 * v] = (umapc_idx)(a < b ? a : b);
            g->indices[2 * v + 1] = (umapc_idx)(a < b ? b : a);
            g->data[2 * v] = g->data[2 * v + 1] = 1.0f;
        }
    }
    g->indptr[total] = (int64_t)g->nnz;
}

/* A cycle's first non-trivial Laplacian eigenvalue is double (cos and sin of 2 pi i / n), so the
 * 2-D spectral embedding is a circle: every point at the same radius, in cyclic order. */
static void test_ring(void) {
    size_t n = 200;
    umapc_graph g;
    make_rings(&g, 1, n);
    float emb[400];
    int converged = 0;
    CHECK_OK(umapc_spectral_layout(&g, 2, NULL, NULL, emb, &converged, &ce_));
    CHECK(converged);
    double r0 = hypot(emb[0], emb[1]);
    CHECK_CLOSE(r0, sqrt(2.0 / (double)n), 1e-3, 0.0); /* unit-norm vectors: r^2 = 2 / n */
    double turn = 0.0;
    for (size_t i = 0; i < n; i++) {
        CHECK_CLOSE(hypot(emb[2 * i], emb[2 * i + 1]), r0, 2e-3, 0.0);
        size_t j = (i + 1) % n;
        double da = atan2(emb[2 * j + 1], emb[2 * j]) - atan2(emb[2 * i + 1], emb[2 * i]);
        da = da > M_PI ? da - 2 * M_PI : (da < -M_PI ? da + 2 * M_PI : da);
        CHECK_CLOSE(fabs(da), 2 * M_PI / (double)n, 1e-2, 0.0);
        turn += da;
    }
    CHECK_CLOSE(fabs(turn), 2 * M_PI, 1e-6, 0.0);
    umapc_graph_free(&g);
}

/* Path graph: L's eigenvectors are cos(pi k (i + 1/2) / n) scaled by sqrt(deg). Check the first
 * one's Rayleigh quotient and direction. */
static void test_path_and_threads(void) {
    size_t n = 150;
    umapc_graph g;
    make_rings(&g, 1, n);
    /* cut the edge between n-1 and 0 by zero weights is not allowed; rebuild as a path */
    umapc_graph_free(&g);
    g.n_rows = g.n_cols = n;
    g.indptr = malloc((n + 1) * sizeof *g.indptr);
    g.indices = malloc(2 * n * sizeof *g.indices);
    g.data = malloc(2 * n * sizeof *g.data);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        g.indptr[i] = (int64_t)at;
        if (i > 0) {
            g.indices[at] = (umapc_idx)(i - 1);
            g.data[at++] = 1.0f;
        }
        if (i + 1 < n) {
            g.indices[at] = (umapc_idx)(i + 1);
            g.data[at++] = 1.0f;
        }
    }
    g.indptr[n] = (int64_t)at;
    g.nnz = at;
    float *emb1 = malloc(n * 2 * sizeof *emb1), *emb3 = malloc(n * 2 * sizeof *emb3);
    umapc_spectral_options o;
    umapc_spectral_options_init(&o);
    int converged = 0;
    o.n_threads = 1;
    CHECK_OK(umapc_spectral_layout(&g, 2, &o, NULL, emb1, &converged, &ce_));
    CHECK(converged);
    o.n_threads = 3;
    CHECK_OK(umapc_spectral_layout(&g, 2, &o, NULL, emb3, &converged, &ce_));
    CHECK(memcmp(emb1, emb3, n * 2 * sizeof *emb1) == 0);
    /* The random-walk eigenvector (D^-1/2 x) of the first non-trivial pair is cos(pi i/(n-1)) up
     * to scale: compare through the correlation. */
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (size_t i = 0; i < n; i++) {
        double deg = (i == 0 || i + 1 == n) ? 1.0 : 2.0;
        double x = emb1[2 * i] / sqrt(deg), y = cos(M_PI * (double)i / (double)(n - 1));
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    CHECK_CLOSE(fabs(sxy) / sqrt(sxx * syy), 1.0, 0.0, 1e-4);
    free(emb1);
    free(emb3);
    umapc_graph_free(&g);
}

static void test_components(void) {
    size_t n = 60;
    umapc_graph g;
    make_rings(&g, 3, n);
    umapc_idx labels[180];
    size_t m = 0;
    CHECK_OK(umapc_connected_components(&g, labels, &m, &ce_));
    CHECK(m == 3);
    CHECK(labels[0] == 0 && labels[n] == 1 && labels[2 * n] == 2);
    float emb[360];
    int converged = 0;
    CHECK_OK(umapc_spectral_layout(&g, 2, NULL, NULL, emb, &converged, &ce_));
    CHECK(converged);
    /* each ring around its own centre, rings disjoint */
    for (size_t r = 0; r < 3; r++) {
        double cx = 0, cy = 0;
        for (size_t i = 0; i < n; i++) {
            cx += emb[2 * (r * n + i)] / (double)n;
            cy += emb[2 * (r * n + i) + 1] / (double)n;
        }
        for (size_t i = 0; i < n; i++) {
            double d = hypot(emb[2 * (r * n + i)] - cx, emb[2 * (r * n + i) + 1] - cy);
            CHECK(d < 0.75); /* half the gap between centres on +-e_i is >= 0.7 */
        }
    }
    umapc_graph_free(&g);
}

int main(void) {
    test_ring();
    test_path_and_threads();
    test_components();
    CHECK_DONE();
}
