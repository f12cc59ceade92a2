/* Distances with their gradients, as umap-learn's umap/distances.py *_grad functions: the data
 * metrics of inverse_transform and the output metrics of a non-euclidean layout. */
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
    GRAD_KIND_COUNT_
} metric_grad_kind;

/* The distance from x to y; its gradient in x goes to grad (dim floats). Sums in double. */
float metric_grad(metric_grad_kind kind, double p, const float *x, const float *y, size_t dim,
                  float *grad);

#endif
