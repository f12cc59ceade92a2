/* umapc: spectral initialisation of the UMAP layout. */
#ifndef UMAPC_SPECTRAL_H
#define UMAPC_SPECTRAL_H

#include "fuzzy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_spectral_options {
    /* Residual tolerance relative to the Laplacian eigenvalue, like ARPACK's (umap-learn passes
     * 1e-4 to eigsh). Default 1e-4. */
    double tol;
    /* Filter-and-Rayleigh-Ritz rounds per component before giving up; 0 means min(5 n, 100)
     * (umap-learn's eigsh maxiter is 5 n, but a round here is up to 192 products). Default 0. */
    size_t max_iter;
    uint64_t seed; /* start vectors (besides the all-ones one) and tiny components. Default 0. */
    int n_threads; /* <= 0: all cores. Default 0. */
} umapc_spectral_options;

UMAPC_API void umapc_spectral_options_init(umapc_spectral_options *opts);

/* Connected components of the (symmetric) graph: labels[i] in [0, *n_components), numbered in
 * order of their smallest vertex. */
UMAPC_API umapc_status umapc_connected_components(const umapc_graph *graph, umapc_idx *labels,
                                                  size_t *n_components, umapc_error *err);

/* The dim eigenvectors of the symmetric normalised Laplacian I - D^-1/2 A D^-1/2 with the smallest
 * eigenvalues after the trivial one (umap-learn's spectral_layout), as columns of the n x dim
 * row-major embedding; each vector has unit norm and a sign fixed so that its largest-magnitude
 * entry is positive. Computed with Chebyshev-filtered subspace iteration (block size dim + 8, the
 * trivial vector deflated exactly) and Rayleigh-Ritz, all products parallel and every reduction
 * over a fixed partition, so the result depends only on the graph and the seed; graphs of at most
 * 128 vertices are decomposed densely (Jacobi). The filter's degree doubles (24 up to 192) after
 * an iteration that fails to halve the residuals; iteration also stops, as converged, after two
 * such iterations at degree 192 with residuals below 1e-2 (nearly disconnected clusters, whose
 * eigenvalues lie within 1e-7 of each other). A disconnected
 * graph is laid out one component at a time: component centres at +-e_i when there are at most
 * 2 * dim components, otherwise on a regular grid; each component scaled to half the distance to
 * the nearest other centre (components too small for an eigenproblem are placed uniformly at
 * random there, and so is a component whose solve does not converge, as umap-learn does).
 * *converged is 0 when a connected graph did not reach tol within max_iter; the embedding then
 * holds the last iterate and the status is still UMAPC_OK. */
UMAPC_API umapc_status umapc_spectral_layout(const umapc_graph *graph, size_t dim,
                                             const umapc_spectral_options *opts,
                                             const umapc_progress *progress, float *embedding,
                                             int *converged, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
