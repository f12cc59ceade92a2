/* Spectral initialisation: the eigenvectors of the normalised Laplacian L = I - D^-1/2 A D^-1/2
 * with the smallest eigenvalues after the trivial one, i.e. the largest eigenvalues of
 * M = D^-1/2 A D^-1/2 once its known top eigenvector sqrt(deg) is deflated.
 *
 * Chebyshev-filtered subspace iteration: a block of dim + 8 vectors is multiplied by a Chebyshev
 * polynomial of M that is small on [-1, c] (c = the block's smallest Ritz value) and grows fast
 * above it, then Rayleigh-Ritz on the block. The block products stream through the graph once per
 * step for all vectors and need no large Krylov basis; every reduction is summed over fixed row
 * blocks so the result does not depend on the thread count. */
#include "graph_internal.h"
#include "umapc/spectral.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define ROW_BLOCK     2048
#define MAX_BLOCK     40
#define FILTER_DEGREE 24
/* A filter of degree d separates the wanted eigenvalues from the rest by a factor that grows like
 * exp(d * sqrt(gap)): where an iteration fails to halve the residuals (clustered eigenvalues just
 * below the wanted ones) the degree doubles, up to FILTER_MAX, which costs far fewer products
 * than more iterations at a low degree. */
#define FILTER_MAX 192
/* Stagnation: a graph of many nearly disconnected clusters (repeated rows, say) has its low
 * eigenvalues within 1e-7 of each other, and residuals that shrink by a few per cent an iteration
 * even at the highest degree. The block then already spans the clusters' indicator-like vectors,
 * which are what the layout needs, so once STALL_ITERS iterations at FILTER_MAX in a row have
 * failed to halve the residuals and they are below STALL_ACCEPT, the block is taken as it is.
 * (Ordinary graphs converge in 2-6 iterations.) */
#define STALL_ITERS  2
#define STALL_ACCEPT 1e-2
/* The default bound on iterations (umap-learn's 5 n is ARPACK's, whose iterations cost one
 * product; here one costs up to FILTER_MAX): graphs converge or stall in a few dozen at most, and
 * one that does not (an asymmetric graph, whose eigenvectors this solver cannot find: minutes on
 * 1,000 points before) reports failure, and the caller falls back to random as umap-learn does. */
#define MAX_ITER 100

void umapc_spectral_options_init(umapc_spectral_options *opts) {
    opts->tol = 1e-4;
    opts->max_iter = 0;
    opts->seed = 0;
    opts->n_threads = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* connected components                                                                        */

static umapc_idx uf_find(umapc_idx *parent, umapc_idx x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

umapc_status umapc_connected_components(const umapc_graph *graph, umapc_idx *labels,
                                        size_t *n_components, umapc_error *err) {
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (labels == NULL || n_components == NULL || graph->n_rows != graph->n_cols) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "connected_components: need a square graph and output arrays");
    }
    size_t n = graph->n_rows;
    umapc_idx *parent = malloc((n ? n : 1) * sizeof *parent);
    if (parent == NULL) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "connected_components: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        parent[i] = (umapc_idx)i;
    }
    for (size_t i = 0; i < n; i++) {
        for (int64_t e = graph->indptr[i]; e < graph->indptr[i + 1]; e++) {
            umapc_idx a = uf_find(parent, (umapc_idx)i), b = uf_find(parent, graph->indices[e]);
            /* The smaller index becomes the root, so roots are the smallest vertex. */
            if (a < b) {
                parent[b] = a;
            } else if (b < a) {
                parent[a] = b;
            }
        }
    }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        umapc_idx r = uf_find(parent, (umapc_idx)i);
        labels[i] = (size_t)r == i ? (umapc_idx)count++ : labels[r];
    }
    free(parent);
    *n_components = count;
    return UMAPC_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* dense helpers                                                                               */

/* Cyclic Jacobi for a symmetric m x m matrix h (destroyed): eigenvalues in descending order in
 * theta, eigenvectors as columns of q. */
static void jacobi_eigen(double *h, size_t m, double *theta, double *q) {
    for (size_t i = 0; i < m * m; i++) {
        q[i] = 0.0;
    }
    for (size_t i = 0; i < m; i++) {
        q[i * m + i] = 1.0;
    }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (size_t i = 0; i < m; i++) {
            diag += h[i * m + i] * h[i * m + i];
            for (size_t j = i + 1; j < m; j++) {
                off += h[i * m + j] * h[i * m + j];
            }
        }
        if (off <= 1e-30 * diag || off == 0.0) {
            break;
        }
        for (size_t p = 0; p < m; p++) {
            for (size_t r = p + 1; r < m; r++) {
                double hpr = h[p * m + r];
                if (hpr == 0.0) {
                    continue;
                }
                double tau = (h[r * m + r] - h[p * m + p]) / (2.0 * hpr);
                double t = (tau >= 0.0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1.0 + tau * tau));
                double c = 1.0 / sqrt(1.0 + t * t), s = t * c;
                for (size_t k = 0; k < m; k++) {
                    double hkp = h[k * m + p], hkr = h[k * m + r];
                    h[k * m + p] = c * hkp - s * hkr;
                    h[k * m + r] = s * hkp + c * hkr;
                }
                for (size_t k = 0; k < m; k++) {
                    double hpk = h[p * m + k], hrk = h[r * m + k];
                    h[p * m + k] = c * hpk - s * hrk;
                    h[r * m + k] = s * hpk + c * hrk;
                }
                for (size_t k = 0; k < m; k++) {
                    double qkp = q[k * m + p], qkr = q[k * m + r];
                    q[k * m + p] = c * qkp - s * qkr;
                    q[k * m + r] = s * qkp + c * qkr;
                }
            }
        }
    }
    /* Selection sort of eigenpairs by descending eigenvalue. */
    for (size_t i = 0; i < m; i++) {
        theta[i] = h[i * m + i];
    }
    for (size_t i = 0; i < m; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < m; j++) {
            best = theta[j] > theta[best] ? j : best;
        }
        if (best != i) {
            double t = theta[i];
            theta[i] = theta[best];
            theta[best] = t;
            for (size_t k = 0; k < m; k++) {
                double v = q[k * m + i];
                q[k * m + i] = q[k * m + best];
                q[k * m + best] = v;
            }
        }
    }
}

/* Cholesky of the m x m SPD matrix g in place (lower triangle); -1 when not positive definite. */
static int cholesky(double *g, size_t m) {
    for (size_t j = 0; j < m; j++) {
        double d = g[j * m + j];
        for (size_t k = 0; k < j; k++) {
            d -= g[j * m + k] * g[j * m + k];
        }
        if (!(d > 0.0)) {
            return -1;
        }
        d = sqrt(d);
        g[j * m + j] = d;
        for (size_t i = j + 1; i < m; i++) {
            double s = g[i * m + j];
            for (size_t k = 0; k < j; k++) {
                s -= g[i * m + k] * g[j * m + k];
            }
            g[i * m + j] = s / d;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* the operator and block kernels                                                              */

typedef struct eig_ctx {
    size_t n;
    const int64_t *indptr;
    const umapc_idx *indices;
    double *w;  /* a_ij / sqrt(deg_i deg_j) */
    double *u0; /* sqrt(deg) / ||sqrt(deg)||: the trivial eigenvector */
    size_t b;   /* block width */
    int n_threads;
    size_t n_blocks;
    double *partial; /* n_blocks x b x b scratch for reductions */
} eig_ctx;

/* out = alpha * M in + beta * in + gamma * prev (prev may be NULL); blocks are n x b row-major. */
static void block_apply(const eig_ctx *c, const double *in, double *out, double alpha, double beta,
                        double gamma, const double *prev) {
    size_t b = c->b;
#pragma omp parallel for schedule(dynamic, 256) num_threads(c->n_threads)
    for (size_t i = 0; i < c->n; i++) {
        double acc[MAX_BLOCK];
        for (size_t k = 0; k < b; k++) {
            acc[k] = 0.0;
        }
        for (int64_t e = c->indptr[i]; e < c->indptr[i + 1]; e++) {
            const double *x = in + (size_t)c->indices[e] * b;
            double w = c->w[e];
            for (size_t k = 0; k < b; k++) {
                acc[k] += w * x[k];
            }
        }
        double *o = out + i * b;
        const double *xi = in + i * b;
        for (size_t k = 0; k < b; k++) {
            o[k] = alpha * acc[k] + beta * xi[k] + (prev ? gamma * prev[i * b + k] : 0.0);
        }
    }
}

/* g (p x q) = X^T Y over fixed row blocks, X n x p and Y n x q row-major. */
static void block_gram(const eig_ctx *c, const double *x, size_t p, const double *y, size_t q,
                       double *g) {
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
    for (size_t blk = 0; blk < c->n_blocks; blk++) {
        double *part = c->partial + blk * MAX_BLOCK * MAX_BLOCK;
        for (size_t t = 0; t < p * q; t++) {
            part[t] = 0.0;
        }
        size_t end = (blk + 1) * ROW_BLOCK < c->n ? (blk + 1) * ROW_BLOCK : c->n;
        for (size_t i = blk * ROW_BLOCK; i < end; i++) {
            for (size_t r = 0; r < p; r++) {
                double xr = x[i * p + r];
                for (size_t s = 0; s < q; s++) {
                    part[r * q + s] += xr * y[i * q + s];
                }
            }
        }
    }
    for (size_t t = 0; t < p * q; t++) {
        g[t] = 0.0;
    }
    for (size_t blk = 0; blk < c->n_blocks; blk++) {
        const double *part = c->partial + blk * MAX_BLOCK * MAX_BLOCK;
        for (size_t t = 0; t < p * q; t++) {
            g[t] += part[t];
        }
    }
}

/* y (n x b) = x (n x b) * r (b x b) in place, through a row buffer. */
static void block_rotate(const eig_ctx *c, double *x, const double *r) {
    size_t b = c->b;
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
    for (size_t i = 0; i < c->n; i++) {
        double row[MAX_BLOCK];
        for (size_t s = 0; s < b; s++) {
            double acc = 0.0;
            for (size_t t = 0; t < b; t++) {
                acc += x[i * b + t] * r[t * b + s];
            }
            row[s] = acc;
        }
        memcpy(x + i * b, row, b * sizeof *row);
    }
}

/* Removes the trivial eigenvector from every column. */
static void deflate(const eig_ctx *c, double *x) {
    double proj[MAX_BLOCK * MAX_BLOCK];
    block_gram(c, c->u0, 1, x, c->b, proj);
    size_t b = c->b;
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
    for (size_t i = 0; i < c->n; i++) {
        for (size_t k = 0; k < b; k++) {
            x[i * b + k] -= proj[k] * c->u0[i];
        }
    }
}

/* Orthonormalises the columns of x by Cholesky QR, twice for accuracy; a tiny diagonal shift
 * rescues a numerically rank-deficient block. Returns -1 when that fails too. */
static int orthonormalise(const eig_ctx *c, double *x) {
    size_t b = c->b;
    double g[MAX_BLOCK * MAX_BLOCK], rinv[MAX_BLOCK * MAX_BLOCK];
    for (int pass = 0; pass < 3; pass++) {
        block_gram(c, x, b, x, b, g);
        double trace = 0.0;
        for (size_t k = 0; k < b; k++) {
            trace += g[k * b + k];
        }
        if (!(trace > 0.0)) {
            return -1;
        }
        if (cholesky(g, b) != 0) {
            block_gram(c, x, b, x, b, g);
            for (size_t k = 0; k < b; k++) {
                g[k * b + k] += 1e-13 * trace;
            }
            if (cholesky(g, b) != 0) {
                return -1;
            }
        }
        /* rinv = L^-T, upper triangular, so that x * rinv has orthonormal columns. */
        memset(rinv, 0, sizeof rinv);
        for (size_t col = 0; col < b; col++) {
            for (size_t i = b; i-- > 0;) {
                double s = i == col ? 1.0 : 0.0;
                for (size_t k = i + 1; k < b; k++) {
                    s -= g[k * b + i] * rinv[k * b + col];
                }
                rinv[i * b + col] = s / g[i * b + i];
            }
        }
        block_rotate(c, x, rinv);
    }
    return 0;
}

/* Rayleigh-Ritz on the orthonormal block x: x becomes the Ritz vectors, mx = M x, theta the Ritz
 * values (descending), res the residual norms ||M x_k - theta_k x_k||. */
static void rayleigh_ritz(const eig_ctx *c, double *x, double *mx, double *theta, double *res) {
    size_t b = c->b;
    double h[MAX_BLOCK * MAX_BLOCK], q[MAX_BLOCK * MAX_BLOCK];
    block_apply(c, x, mx, 1.0, 0.0, 0.0, NULL);
    block_gram(c, x, b, mx, b, h);
    for (size_t r = 0; r < b; r++) {
        for (size_t s = r + 1; s < b; s++) {
            double v = 0.5 * (h[r * b + s] + h[s * b + r]);
            h[r * b + s] = h[s * b + r] = v;
        }
    }
    jacobi_eigen(h, b, theta, q);
    block_rotate(c, x, q);
    block_rotate(c, mx, q);
    /* Residual norms: one fixed-block reduction over the diagonal of R^T R. */
#pragma omp parallel for schedule(static) num_threads(c->n_threads)
    for (size_t blk = 0; blk < c->n_blocks; blk++) {
        double *part = c->partial + blk * MAX_BLOCK * MAX_BLOCK;
        for (size_t k = 0; k < b; k++) {
            part[k] = 0.0;
        }
        size_t end = (blk + 1) * ROW_BLOCK < c->n ? (blk + 1) * ROW_BLOCK : c->n;
        for (size_t i = blk * ROW_BLOCK; i < end; i++) {
            for (size_t k = 0; k < b; k++) {
                double r = mx[i * b + k] - theta[k] * x[i * b + k];
                part[k] += r * r;
            }
        }
    }
    for (size_t k = 0; k < b; k++) {
        double s = 0.0;
        for (size_t blk = 0; blk < c->n_blocks; blk++) {
            s += c->partial[blk * MAX_BLOCK * MAX_BLOCK + k];
        }
        res[k] = sqrt(s);
    }
}

/* y = p(M) x for the Chebyshev polynomial of the given degree that is bounded by 1 on [lo, hi] and
 * scaled to 1 at M's largest eigenvalue 1 (three-term recurrence with ratios, so nothing
 * overflows). x is used as scratch. */
static void chebyshev_filter(const eig_ctx *c, double *x, double *y, double *z, double lo,
                             double hi, int degree, double **result) {
    double e = (hi - lo) / 2.0, center = (hi + lo) / 2.0;
    double t0 = (1.0 - center) / e;
    double sigma = 1.0 / t0;
    /* y = sigma * (M x - center x) / e */
    block_apply(c, x, y, sigma / e, -sigma * center / e, 0.0, NULL);
    double *prev = x, *cur = y, *next = z;
    for (int j = 2; j <= degree; j++) {
        double sigma_next = 1.0 / (2.0 * t0 - sigma);
        double s = 2.0 * sigma_next / e;
        block_apply(c, cur, next, s, -s * center, -sigma * sigma_next, prev);
        double *t = prev;
        prev = cur;
        cur = next;
        next = t;
        sigma = sigma_next;
    }
    *result = cur;
}

static void random_block(double *x, size_t n, size_t b, uint64_t seed) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        x[i * b] = 1.0; /* umap-learn starts ARPACK from the all-ones vector */
        for (size_t k = 1; k < b; k++) {
            double u1 = umapc_rng_uniform(&rng), u2 = umapc_rng_uniform(&rng);
            x[i * b + k] = sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* one connected graph                                                                         */

typedef struct solve_args {
    size_t n, dim;
    const int64_t *indptr;
    const umapc_idx *indices;
    const float *data;
    double tol;
    size_t max_iter;
    uint64_t seed;
    int n_threads;
    const umapc_progress *progress;
} solve_args;

static int setup_operator(eig_ctx *c, const solve_args *a) {
    memset(c, 0, sizeof *c);
    c->n = a->n;
    c->indptr = a->indptr;
    c->indices = a->indices;
    c->n_threads = a->n_threads;
    c->b = a->dim + 8 < a->n - 1 ? a->dim + 8 : a->n - 1;
    c->n_blocks = (a->n + ROW_BLOCK - 1) / ROW_BLOCK;
    size_t nnz = (size_t)a->indptr[a->n];
    c->w = malloc((nnz ? nnz : 1) * sizeof *c->w);
    c->u0 = malloc(a->n * sizeof *c->u0);
    c->partial = malloc(c->n_blocks * MAX_BLOCK * MAX_BLOCK * sizeof *c->partial);
    double *isd = malloc(a->n * sizeof *isd);
    if (c->w == NULL || c->u0 == NULL || c->partial == NULL || isd == NULL) {
        free(isd);
        return -1;
    }
    for (size_t i = 0; i < a->n; i++) {
        double deg = 0.0;
        for (int64_t e = a->indptr[i]; e < a->indptr[i + 1]; e++) {
            deg += a->data[e];
        }
        c->u0[i] = sqrt(deg);
        isd[i] = deg > 0.0 ? 1.0 / sqrt(deg) : 0.0;
    }
    for (size_t i = 0; i < a->n; i++) {
        for (int64_t e = a->indptr[i]; e < a->indptr[i + 1]; e++) {
            c->w[e] = (double)a->data[e] * isd[i] * isd[a->indices[e]];
        }
    }
    free(isd);
    double norm = 0.0;
    for (size_t i = 0; i < a->n; i++) {
        norm += c->u0[i] * c->u0[i];
    }
    norm = sqrt(norm);
    for (size_t i = 0; i < a->n; i++) {
        c->u0[i] = norm > 0.0 ? c->u0[i] / norm : 0.0;
    }
    return 0;
}

static void free_operator(eig_ctx *c) {
    free(c->w);
    free(c->u0);
    free(c->partial);
}

static double largest_residual(const double *res, size_t dim) {
    double worst = 0.0;
    for (size_t k = 0; k < dim; k++) {
        worst = res[k] > worst ? res[k] : worst;
    }
    return worst;
}

static int converged_pairs(const double *theta, const double *res, size_t dim, double tol) {
    for (size_t k = 0; k < dim; k++) {
        /* ARPACK's test is relative to the eigenvalue of L = I - M. The floor keeps a nearly
         * disconnected graph (eigenvalues ~ 1e-5, repeated rows) from demanding residuals of
         * 1e-9, a hundred iterations more than an initial layout can tell apart. */
        double lambda = fabs(1.0 - theta[k]);
        if (res[k] > tol * (lambda > 1e-3 ? lambda : 1e-3)) {
            return 0;
        }
    }
    return 1;
}

/* Columns 0..dim-1 of x (n rows of b) into out (row stride out_stride), row i of x to row
 * order[i] of out (i itself when order is NULL), each column signed so that its entry of largest
 * magnitude is positive: the same layout whatever sign the solver ended on. */
static void write_signed(const double *x, size_t b, size_t n, size_t dim, const umapc_idx *order,
                         float *out, size_t out_stride) {
    for (size_t k = 0; k < dim; k++) {
        size_t arg = 0;
        for (size_t i = 1; i < n; i++) {
            arg = fabs(x[i * b + k]) > fabs(x[arg * b + k]) ? i : arg;
        }
        double sign = x[arg * b + k] < 0.0 ? -1.0 : 1.0;
        for (size_t i = 0; i < n; i++) {
            size_t row = order != NULL ? (size_t)order[i] : i;
            out[row * out_stride + k] = (float)(sign * x[i * b + k]);
        }
    }
}

/* Small graphs are decomposed densely: with the block nearly as wide as the graph the filter has
 * no room between the wanted and the unwanted eigenvalues, and the iteration can oscillate
 * without converging (components of a dozen repeated rows did). */
#define DENSE_MAX 128

/* All eigenpairs of M by Jacobi; the dim after the trivial one (the largest) go to out. Returns
 * as solve_connected. */
static int solve_dense(const solve_args *a, float *out, size_t out_stride) {
    eig_ctx c;
    size_t n = a->n;
    double *m = malloc(n * n * sizeof *m), *q = malloc(n * n * sizeof *q);
    double *theta = malloc(n * sizeof *theta);
    int outcome = -1;
    if (setup_operator(&c, a) == 0 && m && q && theta) {
        memset(m, 0, n * n * sizeof *m);
        for (size_t i = 0; i < n; i++) {
            for (int64_t e = a->indptr[i]; e < a->indptr[i + 1]; e++) {
                m[i * n + (size_t)a->indices[e]] += c.w[e];
            }
        }
        jacobi_eigen(m, n, theta, q);
        write_signed(q + 1, n, n, a->dim, NULL, out, out_stride);
        outcome = 1;
    }
    free(m);
    free(q);
    free(theta);
    free_operator(&c);
    return outcome;
}

/* The iterative solve of solve_connected on the graph in a, relabelled: row i of a is row order[i]
 * of the caller's graph, and goes back there in out. */
static int solve_filtered(const solve_args *a, const umapc_idx *order, float *out,
                          size_t out_stride) {
    eig_ctx c;
    if (setup_operator(&c, a) != 0) {
        free_operator(&c);
        return -1;
    }
    size_t b = c.b, nb = umapc_mul_size(a->n, b);
    double *x = malloc(nb * sizeof *x), *y = malloc(nb * sizeof *y);
    double *z = malloc(nb * sizeof *z), *mx = malloc(nb * sizeof *mx);
    double theta[MAX_BLOCK], res[MAX_BLOCK];
    int outcome = -1;
    if (x && y && z && mx) {
        /* the caller's rows draw their start as before the relabelling */
        random_block(y, a->n, b, a->seed);
        for (size_t i = 0; i < a->n; i++) {
            memcpy(x + i * b, y + (size_t)order[i] * b, b * sizeof *x);
        }
        deflate(&c, x);
        outcome = orthonormalise(&c, x) == 0 ? 0 : -3;
    }
    if (outcome == 0) {
        rayleigh_ritz(&c, x, mx, theta, res);
    }
    size_t max_iter = a->max_iter ? a->max_iter : (5 * a->n < MAX_ITER ? 5 * a->n : MAX_ITER);
    double last_worst = INFINITY; /* the largest residual of the previous iteration */
    int degree = FILTER_DEGREE, stalled = 0;
    for (size_t it = 0; outcome == 0 && it < max_iter; it++) {
        if (converged_pairs(theta, res, a->dim, a->tol)) {
            outcome = 1;
            break;
        }
        double worst = largest_residual(res, a->dim);
        int slow = worst > 0.5 * last_worst;
        stalled = slow && degree == FILTER_MAX ? stalled + 1 : 0;
        if (stalled >= STALL_ITERS && worst <= STALL_ACCEPT) {
            outcome = 1;
            break;
        }
        if (slow && degree < FILTER_MAX) {
            degree *= 2;
        }
        last_worst = worst;
        if (umapc_progress_report(a->progress, "spectral layout", it + 1, max_iter)) {
            outcome = -2;
            break;
        }
        double hi = theta[b - 1];
        double top = theta[a->dim - 1];
        if (hi > top - 1e-12) {
            hi = top - 1e-12;
        }
        double *filtered;
        chebyshev_filter(&c, x, y, z, -1.0, hi, degree, &filtered);
        if (filtered != x) {
            memcpy(x, filtered, nb * sizeof *x);
        }
        deflate(&c, x);
        if (orthonormalise(&c, x) != 0) {
            outcome = -3;
            break;
        }
        rayleigh_ritz(&c, x, mx, theta, res);
    }
    if (outcome >= 0 || outcome == -3) {
        write_signed(x, b, a->n, a->dim, order, out, out_stride);
        outcome = outcome == -3 ? 0 : outcome;
    }
    free(x);
    free(y);
    free(z);
    free(mx);
    free_operator(&c);
    return outcome;
}

/* A graph's rows in a cache-friendly order, and the graph relabelled in it. */
typedef struct relabelled {
    umapc_idx *order; /* order[new] = old */
    int64_t *indptr;
    umapc_idx *indices;
    float *data;
} relabelled;

static void relabelled_free(relabelled *r) {
    free(r->order);
    free(r->indptr);
    free(r->indices);
    free(r->data);
}

static int by_degree_then_index(const void *pa, const void *pb) {
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

/* Cuthill-McKee: breadth first from a node of least degree, each node's unvisited neighbours
 * queued by ascending degree (ties by index); order[new] = old. The k-NN graph's rows come in
 * input order, which scatters a row's neighbours over the whole block of vectors: every product
 * of the solve then waits on memory for most of its reads (Fashion-MNIST 70k on a 2-core Zen 3,
 * whose L2 holds a tenth of the block: 18-22 s single-threaded). In this order most neighbours of
 * a row lie near it and the block is read from cache (4.5-5.4 s). */
static int locality_order(size_t n, const int64_t *indptr, const umapc_idx *indices,
                          umapc_idx *order) {
    size_t max_deg = 0;
    for (size_t i = 0; i < n; i++) {
        size_t d = (size_t)(indptr[i + 1] - indptr[i]);
        max_deg = d > max_deg ? d : max_deg;
    }
    unsigned char *seen = calloc(n, 1);
    uint64_t *next = malloc((max_deg ? max_deg : 1) * sizeof *next);
    if (seen == NULL || next == NULL) {
        free(seen);
        free(next);
        return -1;
    }
    /* the graph here is connected: later sweeps (if any) start at the first node left */
    size_t start = 0, placed = 0, head = 0;
    for (size_t i = 1; i < n; i++) {
        start = indptr[i + 1] - indptr[i] < indptr[start + 1] - indptr[start] ? i : start;
    }
    for (size_t cursor = 0; placed < n; start = cursor) {
        while (seen[start]) {
            start = ++cursor;
        }
        seen[start] = 1;
        order[placed++] = (umapc_idx)start;
        for (; head < placed; head++) {
            size_t v = (size_t)order[head], m = 0;
            for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) {
                size_t u = (size_t)indices[e];
                if (!seen[u]) {
                    seen[u] = 1;
                    next[m++] = (uint64_t)(indptr[u + 1] - indptr[u]) << 32 | u;
                }
            }
            qsort(next, m, sizeof *next, by_degree_then_index);
            for (size_t t = 0; t < m; t++) {
                order[placed++] = (umapc_idx)(next[t] & 0xffffffffu);
            }
        }
    }
    free(seen);
    free(next);
    return 0;
}

/* r = a's graph with its rows and columns in locality_order; -1 when out of memory. */
static int relabel(const solve_args *a, relabelled *r) {
    size_t n = a->n, nnz = (size_t)a->indptr[n];
    memset(r, 0, sizeof *r);
    r->order = malloc(n * sizeof *r->order);
    r->indptr = malloc((n + 1) * sizeof *r->indptr);
    r->indices = malloc((nnz ? nnz : 1) * sizeof *r->indices);
    r->data = malloc((nnz ? nnz : 1) * sizeof *r->data);
    umapc_idx *rank = malloc(n * sizeof *rank);
    int ok = r->order && r->indptr && r->indices && r->data && rank &&
             locality_order(n, a->indptr, a->indices, r->order) == 0;
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            rank[r->order[i]] = (umapc_idx)i;
        }
        size_t at = 0;
        r->indptr[0] = 0;
        for (size_t i = 0; i < n; i++) {
            size_t old = (size_t)r->order[i];
            for (int64_t e = a->indptr[old]; e < a->indptr[old + 1]; e++) {
                r->indices[at] = rank[a->indices[e]];
                r->data[at++] = a->data[e];
            }
            r->indptr[i + 1] = (int64_t)at;
        }
    }
    free(rank);
    return ok ? 0 : -1;
}

/* Writes the dim leading non-trivial eigenvectors of the connected graph in a into out (n x dim,
 * row stride out_stride), signs fixed; returns 1 converged, 0 not, -1 out of memory, -2
 * interrupted. */
static int solve_connected(const solve_args *a, float *out, size_t out_stride) {
    if (a->n <= DENSE_MAX) {
        return solve_dense(a, out, out_stride);
    }
    relabelled r;
    int outcome = -1;
    if (relabel(a, &r) == 0) {
        solve_args ra = *a;
        ra.indptr = r.indptr;
        ra.indices = r.indices;
        ra.data = r.data;
        outcome = solve_filtered(&ra, r.order, out, out_stride);
    }
    relabelled_free(&r);
    return outcome;
}

/* ------------------------------------------------------------------------------------------ */
/* components                                                                                  */

/* Centre of component l among m: +-e_i when m <= 2 dim (umap-learn's placement), otherwise a
 * regular grid in [-1, 1]^dim. */
static void meta_position(size_t l, size_t m, size_t dim, double *pos) {
    memset(pos, 0, dim * sizeof *pos);
    if (m <= 2 * dim) {
        size_t k = (m + 1) / 2;
        pos[l % k] = l < k ? 1.0 : -1.0;
        return;
    }
    size_t side = 1;
    while (pow((double)side, (double)dim) < (double)m) {
        side++;
    }
    size_t rest = l;
    for (size_t d = 0; d < dim; d++) {
        pos[d] = side > 1 ? -1.0 + 2.0 * (double)(rest % side) / (double)(side - 1) : 0.0;
        rest /= side;
    }
}

static double meta_half_gap(size_t l, size_t m, size_t dim) {
    double pl[64], po[64];
    double best = INFINITY;
    meta_position(l, m, dim, pl);
    for (size_t o = 0; o < m; o++) {
        if (o == l) {
            continue;
        }
        meta_position(o, m, dim, po);
        double d2 = 0.0;
        for (size_t d = 0; d < dim; d++) {
            d2 += (pl[d] - po[d]) * (pl[d] - po[d]);
        }
        best = d2 > 0.0 && sqrt(d2) < best ? sqrt(d2) : best;
    }
    return isfinite(best) ? best / 2.0 : 1.0;
}

typedef struct component {
    size_t n;
    int64_t *indptr;
    umapc_idx *indices;
    float *data;
    umapc_idx *members;
} component;

static int extract_component(const umapc_graph *g, const umapc_idx *labels, umapc_idx label,
                             umapc_idx *local, component *comp) {
    memset(comp, 0, sizeof *comp);
    size_t n = 0, nnz = 0;
    for (size_t i = 0; i < g->n_rows; i++) {
        if (labels[i] == label) {
            local[i] = (umapc_idx)n++;
            nnz += (size_t)(g->indptr[i + 1] - g->indptr[i]);
        }
    }
    comp->n = n;
    comp->indptr = malloc((n + 1) * sizeof *comp->indptr);
    comp->indices = malloc((nnz ? nnz : 1) * sizeof *comp->indices);
    comp->data = malloc((nnz ? nnz : 1) * sizeof *comp->data);
    comp->members = malloc((n ? n : 1) * sizeof *comp->members);
    if (!comp->indptr || !comp->indices || !comp->data || !comp->members) {
        return -1;
    }
    size_t at = 0, row = 0;
    comp->indptr[0] = 0;
    for (size_t i = 0; i < g->n_rows; i++) {
        if (labels[i] != label) {
            continue;
        }
        comp->members[row] = (umapc_idx)i;
        for (int64_t e = g->indptr[i]; e < g->indptr[i + 1]; e++) {
            comp->indices[at] = local[g->indices[e]];
            comp->data[at++] = g->data[e];
        }
        comp->indptr[++row] = (int64_t)at;
    }
    return 0;
}

static void free_component(component *comp) {
    free(comp->indptr);
    free(comp->indices);
    free(comp->data);
    free(comp->members);
}

static void random_uniform_rows(float *out, size_t n, size_t dim, double half, const double *centre,
                                uint64_t seed) {
    umapc_rng rng;
    umapc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < dim; d++) {
            out[i * dim + d] = (float)(centre[d] + half * (2.0 * umapc_rng_uniform(&rng) - 1.0));
        }
    }
}

/* Lays out one component of a disconnected graph into its rows of embedding; returns as
 * solve_connected. */
static int layout_component(const umapc_graph *g, const umapc_idx *labels, umapc_idx *local,
                            size_t label, size_t m, size_t dim, const umapc_spectral_options *o,
                            const umapc_progress *progress, float *embedding) {
    component comp;
    if (extract_component(g, labels, (umapc_idx)label, local, &comp) != 0) {
        free_component(&comp);
        return -1;
    }
    double centre[64];
    meta_position(label, m, dim, centre);
    double half = meta_half_gap(label, m, dim);
    float *tmp = malloc(umapc_mul_size(comp.n, dim) * sizeof *tmp);
    int outcome = tmp ? 1 : -1;
    uint64_t seed = umapc_hash64(o->seed ^ (0x51ec7ea1ULL + label));
    if (tmp && (comp.n < 2 * dim || comp.n <= dim + 1)) {
        random_uniform_rows(tmp, comp.n, dim, half, centre, seed);
    } else if (tmp) {
        solve_args a = {comp.n,       dim,       comp.indptr,
                        comp.indices, comp.data, o->tol,
                        o->max_iter,  seed,      umapc_resolve_threads(o->n_threads),
                        progress};
        outcome = solve_connected(&a, tmp, dim);
        if (outcome == 0) { /* umap-learn too falls back to random for that component alone */
            double origin[64] = {0};
            random_uniform_rows(tmp, comp.n, dim, 1.0, origin, seed);
            outcome = 1;
        }
        float max_abs = 0.0f;
        for (size_t i = 0; i < comp.n * dim; i++) {
            max_abs = fabsf(tmp[i]) > max_abs ? fabsf(tmp[i]) : max_abs;
        }
        double scale = max_abs > 0.0f ? half / (double)max_abs : 1.0;
        for (size_t i = 0; outcome >= 0 && i < comp.n; i++) {
            for (size_t d = 0; d < dim; d++) {
                tmp[i * dim + d] = (float)((double)tmp[i * dim + d] * scale + centre[d]);
            }
        }
    }
    for (size_t i = 0; outcome >= 0 && i < comp.n; i++) {
        memcpy(embedding + (size_t)comp.members[i] * dim, tmp + i * dim, dim * sizeof *tmp);
    }
    free(tmp);
    free_component(&comp);
    return outcome;
}

static umapc_status outcome_status(int outcome, umapc_error *err) {
    if (outcome == -1) {
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "spectral_layout: out of memory");
    }
    if (outcome == -2) {
        return umapc_fail(err, UMAPC_ERR_INTERRUPTED, "interrupted");
    }
    return UMAPC_OK;
}

umapc_status umapc_spectral_layout(const umapc_graph *graph, size_t dim,
                                   const umapc_spectral_options *opts,
                                   const umapc_progress *progress, float *embedding, int *converged,
                                   umapc_error *err) {
    umapc_spectral_options defaults;
    if (opts == NULL) {
        umapc_spectral_options_init(&defaults);
        opts = &defaults;
    }
    umapc_status st = umapc_graph_validate(graph, err);
    if (st) {
        return st;
    }
    if (embedding == NULL || converged == NULL || dim == 0 || dim > 32 ||
        graph->n_rows != graph->n_cols || graph->n_rows == 0 || !(opts->tol > 0.0)) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "spectral_layout: need a square non-empty graph, 1 <= dim <= 32 and "
                          "tol > 0");
    }
    size_t n = graph->n_rows, m = 0;
    umapc_idx *labels = malloc(n * sizeof *labels), *local = malloc(n * sizeof *local);
    if (labels == NULL || local == NULL) {
        free(labels);
        free(local);
        return umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "spectral_layout: out of memory");
    }
    st = umapc_connected_components(graph, labels, &m, err);
    *converged = 1;
    int outcome = 1;
    if (!st && m == 1 && !(n < 2 * dim || n <= dim + 1)) {
        solve_args a = {n,
                        dim,
                        graph->indptr,
                        graph->indices,
                        graph->data,
                        opts->tol,
                        opts->max_iter,
                        opts->seed,
                        umapc_resolve_threads(opts->n_threads),
                        progress};
        outcome = solve_connected(&a, embedding, dim);
    } else if (!st && m == 1) {
        double centre[32] = {0};
        random_uniform_rows(embedding, n, dim, 10.0, centre, opts->seed);
    }
    for (size_t l = 0; !st && m > 1 && l < m && outcome >= 0; l++) {
        int r = layout_component(graph, labels, local, l, m, dim, opts, progress, embedding);
        outcome = r < 0 ? r : (outcome && r);
    }
    free(labels);
    free(local);
    if (!st) {
        st = outcome_status(outcome, err);
        *converged = outcome == 1;
    }
    return st;
}
