/* Distances with their gradients, as umap-learn's umap/distances.py *_grad functions: the data
 * metrics of inverse_transform and the output metrics of a non-euclidean layout (umap-learn's
 * named_distances_with_gradients). */
#ifndef UMAPC_SRC_METRIC_GRAD_H
#define UMAPC_SRC_METRIC_GRAD_H

#include <stddef.h>

typedef enum metric_grad_kind {
    GRAD_EUCLIDEAN = 0,
    GRAD_MANHATTAN,
    GRAD_CHEBYSHEV,
    GRAD_MINKOWSKI, /* with p */
    GRAD_COSINE,
    GRAD_CORRELATION,
    GRAD_HELLINGER,
    GRAD_CANBERRA,
    GRAD_BRAYCURTIS,
    GRAD_HAVERSINE, /* (latitude, longitude) in radians, dim 2 */
    GRAD_HYPERBOLOID,
    GRAD_SEUCLIDEAN,   /* V: dim variances > 0 */
    GRAD_WMINKOWSKI,   /* w: dim weights >= 0, and p */
    GRAD_MAHALANOBIS,  /* VI: dim x dim, row-major */
    GRAD_SYMMETRIC_KL, /* optional z (default 1e-11) */
    GRAD_SOFTMAX_HELLINGER,
    GRAD_SPHERICAL_GAUSSIAN_ENERGY, /* dim 3: (mu_x, mu_y, sigma) */
    GRAD_DIAGONAL_GAUSSIAN_ENERGY,  /* dim 4: (mu_x, mu_y, sigma_x, sigma_y) */
    GRAD_GAUSSIAN_ENERGY,           /* dim 5: (mu_x, mu_y, width, height, angle) */
    GRAD_KIND_COUNT_
} metric_grad_kind;

/* A gradient's parameters: p of minkowski and wminkowski, and the array of the kinds that take
 * one (metric_grad_check says which and how long); v NULL and n 0 otherwise. */
typedef struct metric_grad_params {
    double p;
    const float *v;
    size_t n;
} metric_grad_params;

/* NULL when kind takes prm in dim dimensions (the array's length and values, p, the dimension
 * the gaussian energies and haversine need), else why not, for an error message. */
const char *metric_grad_check(metric_grad_kind kind, const metric_grad_params *prm, size_t dim);

/* The distance from x to y; its gradient in x goes to grad (dim floats). Sums in double. prm has
 * passed metric_grad_check. */
float metric_grad(metric_grad_kind kind, const metric_grad_params *prm, const float *x,
                  const float *y, size_t dim, float *grad);

/* umap-learn's gaussian_energy_grad and symmetric_kl_grad write their canonical form of x (and y)
 * back into the embedding (widths |w|, angles folded into [-pi/2, pi/2]; coordinates + z over
 * their sum): the same to x, in place. Nothing for the other kinds. */
void metric_grad_fold(metric_grad_kind kind, const metric_grad_params *prm, float *x, size_t dim);

#endif
