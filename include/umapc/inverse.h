/* umapc: inverse_transform, points of a fitted embedding mapped back to the data space. */
#ifndef UMAPC_INVERSE_H
#define UMAPC_INVERSE_H

#include "common.h"
#include "metric.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_inverse_options {
    /* Neighbours among the embedded training points: umap-learn takes min(dim, n_train). Default
     * 0: that. */
    size_t n_neighbors;
    int n_epochs;                /* default 0: 100 for up to 10,000 points, else 30 */
    double a, b;                 /* the fitted curve; defaults umap-learn's for min_dist 0.1 */
    double repulsion_strength;   /* default 1.0 */
    double learning_rate;        /* initial; umap-learn passes its fit's learning rate / 4. 0.25 */
    double negative_sample_rate; /* default 5.0 */
    int64_t seed;                /* default 0 */
    int n_threads;               /* <= 0: all cores. Default 0. */
} umapc_inverse_options;

UMAPC_API void umapc_inverse_options_init(umapc_inverse_options *opts);

/* Whether the data metric has the gradient inverse_transform needs (euclidean, manhattan,
 * chebyshev, cosine). */
UMAPC_API int umapc_inverse_supports(const umapc_metric *metric);

/* umap-learn's inverse_transform without its Delaunay triangulation: for each of the n_points
 * low-dimensional points, its n_neighbors nearest embedded training points (exact, euclidean in
 * the embedding) with memberships 1 / (1 + a d^(2b)); the start is their membership-weighted mean
 * in data space, then SGD in data space pulls the point toward them (1 / (w sigma + 1e-6) times
 * the metric's gradient) and pushes it from random training points (membership
 * exp(-max(d - rho, 1e-6) / (sigma + 1e-6)) of the training point's smoothing), umap-learn's
 * schedules and learning-rate decay. Negatives come from counter-based random numbers keyed by
 * (seed, point, epoch, edge), so the result is the same for any thread count. embedding is
 * n_train x n_components, data n_train x dim, sigmas and rhos n_train, points n_points x
 * n_components; out receives n_points x dim. */
UMAPC_API umapc_status umapc_inverse_transform(const float *embedding, const float *data,
                                               const float *sigmas, const float *rhos,
                                               size_t n_train, size_t n_components, size_t dim,
                                               const umapc_metric *metric, const float *points,
                                               size_t n_points, const umapc_inverse_options *opts,
                                               const umapc_progress *progress, float *out,
                                               umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
