/* umapc: UMAP layout optimisation and the small steps around it. */
#ifndef UMAPC_LAYOUT_H
#define UMAPC_LAYOUT_H

#include "fuzzy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* a and b of the low-dimensional similarity 1 / (1 + a d^(2b)), fitted by least squares
 * (Levenberg-Marquardt from a = b = 1, like scipy's curve_fit in umap-learn) to 1 for d < min_dist
 * and exp(-(d - min_dist) / spread) beyond, on 300 points over [0, 3 spread]. */
UMAPC_API umapc_status umapc_find_ab_params(double spread, double min_dist, double *a, double *b,
                                            umapc_error *err);

/* The metric of the embedding space (umap-learn's output_metric). */
typedef enum umapc_output_metric {
    UMAPC_OUTPUT_EUCLIDEAN = 0,
    UMAPC_OUTPUT_MANHATTAN,
    UMAPC_OUTPUT_CHEBYSHEV,
    UMAPC_OUTPUT_MINKOWSKI, /* with output_p */
    UMAPC_OUTPUT_COSINE,
    UMAPC_OUTPUT_CORRELATION,
    UMAPC_OUTPUT_HELLINGER,
    UMAPC_OUTPUT_CANBERRA,
    UMAPC_OUTPUT_BRAYCURTIS,
    UMAPC_OUTPUT_HAVERSINE, /* dim 2: (latitude, longitude) in radians, a sphere */
    UMAPC_OUTPUT_HYPERBOLOID,
    UMAPC_OUTPUT_SEUCLIDEAN,   /* output_params: V, dim variances > 0 */
    UMAPC_OUTPUT_WMINKOWSKI,   /* output_params: w, dim weights >= 0; with output_p */
    UMAPC_OUTPUT_MAHALANOBIS,  /* output_params: VI, dim x dim row-major */
    UMAPC_OUTPUT_SYMMETRIC_KL, /* output_params: none or z > 0 (default 1e-11) */
    UMAPC_OUTPUT_SOFTMAX_HELLINGER,
    UMAPC_OUTPUT_SPHERICAL_GAUSSIAN_ENERGY, /* dim 3: (mu_x, mu_y, sigma) */
    UMAPC_OUTPUT_DIAGONAL_GAUSSIAN_ENERGY,  /* dim 4: (mu_x, mu_y, sigma_x, sigma_y) */
    UMAPC_OUTPUT_GAUSSIAN_ENERGY,           /* dim 5: (mu_x, mu_y, width, height, angle) */
    UMAPC_OUTPUT_COUNT_,
    /* A caller's function (umapc_layout_options.output_fn), past the count as
     * UMAPC_METRIC_CUSTOM is. */
    UMAPC_OUTPUT_CUSTOM = 1024
} umapc_output_metric;

/* A UMAPC_OUTPUT_CUSTOM metric: returns the distance from x to y (dim coordinates) and writes its
 * gradient in x to grad (dim floats), as umap-learn's custom output metrics return (d, grad). ctx
 * is umapc_layout_options.output_ctx. Called concurrently from the layout's threads. */
typedef float (*umapc_output_fn)(const float *x, const float *y, float *grad, int64_t dim,
                                 void *ctx);

typedef struct umapc_layout_options {
    int n_epochs;                /* > 0. Default 0 = 500 for <= 10,000 head points, else 200. */
    double a;                    /* Default 1.577 (min_dist 0.1, spread 1). */
    double b;                    /* Default 0.8951. */
    double repulsion_strength;   /* gamma. Default 1.0. */
    double learning_rate;        /* initial alpha, decaying linearly to 0. Default 1.0. */
    double negative_sample_rate; /* negative samples per positive one. Default 5.0. */
    /* Negative samples come from counter-based random numbers keyed by (seed, epoch, edge), and
     * the result is bit-identical for any n_threads and on every CPU (all instruction sets
     * evaluate the same float expressions). < 0 (default): a fixed internal seed. */
    int64_t seed;
    int n_threads; /* <= 0: all cores. Default 0. */
    /* densMAP (umap-learn's densmap=True), fits only: in the last dens_frac of the epochs an
     * attraction also moves the two points toward local radii that correlate with those of the
     * data (umapc_dens_radii of the pruned graph on dens_knn_indices / dens_knn_dists, n_head x
     * dens_k, the lists the graph came from). Default off; dens_lambda 2.0, dens_frac 0.3,
     * dens_var_shift 0.1 as umap-learn. */
    int densmap;
    double dens_lambda;
    double dens_frac;
    double dens_var_shift;
    const umapc_idx *dens_knn_indices;
    const float *dens_knn_dists;
    size_t dens_k;
    /* The embedding's metric (default UMAPC_OUTPUT_EUCLIDEAN). Another one follows umap-learn's
     * optimize_layout_generic: the metric's distance and gradient (umap-learn's *_grad) give the
     * moves, the far end of an edge moving by the gradient at its own end. Not with densMAP;
     * haversine needs dim 2, the gaussian energies 3, 4 and 5. output_p: minkowski's and
     * wminkowski's p (default 2). output_params (n_output_params floats, checked against dim):
     * the array of seuclidean, wminkowski, mahalanobis or symmetric_kl (see umapc_output_metric);
     * NULL and 0 (default) for the others. The caller keeps it alive during the call.
     * symmetric_kl and gaussian_energy put the moving point in their canonical form before each
     * gradient, as umap-learn's gradients write it back (coordinates + z over their sum; widths
     * |w| and angles in [-pi/2, pi/2]). */
    int output_metric;
    double output_p;
    const float *output_params;
    size_t n_output_params;
    /* UMAPC_OUTPUT_CUSTOM's function (required) and its context; NULL (default) otherwise. */
    umapc_output_fn output_fn;
    void *output_ctx;
    /* Snapshots of the embedding during the run (umap-learn's list of n_epochs): once
     * snapshot_epochs[k] epochs have run (1 <= snapshot_epochs[k] <= the run's epochs,
     * non-decreasing in k), the head positions are copied, in head's order, to
     * snapshots + k * n_head * dim. The caller owns snapshots (n_snapshots * n_head * dim floats;
     * the product must fit in size_t bytes). n_snapshots 0 (default): none. Fits (relabelled
     * points are copied back to head's order) and transforms; not the aligned layout. */
    const int32_t *snapshot_epochs;
    size_t n_snapshots;
    float *snapshots;
} umapc_layout_options;

UMAPC_API void umapc_layout_options_init(umapc_layout_options *opts);

/* The distance from x to y in an output metric and its gradient in x (dim floats), as the layout
 * uses them (umap-learn's *_grad); p, params and n_params as umapc_layout_options' output_p,
 * output_params and n_output_params. */
UMAPC_API umapc_status umapc_output_metric_grad(int output_metric, double p, const float *params,
                                                size_t n_params, const float *x, const float *y,
                                                size_t dim, float *dist, float *grad,
                                                umapc_error *err);

/* umap-learn's optimize_layout_euclidean, for any dim >= 1. graph rows are head points, columns
 * tail points; edges with weight below max / n_epochs are ignored, the others sampled every
 * max/weight epochs with negative_sample_rate repulsive samples (0: none) from the tail points.
 * tail == NULL: the graph is n_head x n_head and both ends of a sampled edge move by the same
 * gradient, as in umap-learn (fit); the points are processed in a random order drawn from the
 * seed (so that input sorted by class does not matter), in rounds of consecutive points of that
 * order, each round reading the positions the earlier rounds left, and a point's moves of its
 * edges' far ends are applied when its round ends. Otherwise tail (n_tail x dim) stays fixed
 * (transform). head (n_head x dim, row-major) is updated in place. Progress stage "optimize layout"
 * counts epochs. */
UMAPC_API umapc_status umapc_optimize_layout(float *head, size_t n_head, const float *tail,
                                             size_t n_tail, size_t dim, const umapc_graph *graph,
                                             const umapc_layout_options *opts,
                                             const umapc_progress *progress, umapc_error *err);

/* umap-learn's post-processing of an initial embedding: with expand, scale so the largest
 * |coordinate| is 10 and add N(0, noise^2) noise drawn from seed; then min-max rescale every
 * column to [0, 10] (a constant column becomes 0). */
UMAPC_API umapc_status umapc_rescale_embedding(float *embedding, size_t n, size_t dim,
                                               uint64_t seed, int expand, double noise,
                                               umapc_error *err);

/* Initial positions of new points: the membership-weighted mean of their training neighbours
 * (graph: n_new x n_train). Rows without edges (or with zero total weight) get the mean of the
 * training embedding, so no NaN appears. out is n_new x dim. */
UMAPC_API umapc_status umapc_init_transform(const umapc_graph *graph, const float *train,
                                            size_t n_train, size_t dim, float *out,
                                            umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
