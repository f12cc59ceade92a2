/* umapc: the joint layout of a sequence of related data sets (umap-learn's AlignedUMAP). */
#ifndef UMAPC_ALIGNED_LAYOUT_H
#define UMAPC_ALIGNED_LAYOUT_H

#include "layout.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_aligned_options {
    /* Every slice's SGD, as umapc_optimize_layout's fit: a, b, repulsion_strength, learning_rate,
     * negative_sample_rate, n_threads. n_epochs 0 (default) means 200, umap-learn's AlignedUMAP
     * default. Slice m runs with a seed drawn from (seed, m). densmap must be 0 and
     * output_metric UMAPC_OUTPUT_EUCLIDEAN, and no snapshots (n_snapshots 0). */
    umapc_layout_options layout;
    /* lambda: how strongly a point is pulled toward its related points in the slices around it.
     * Default 0.01 (umap-learn's alignment_regularisation). 0: the slices are laid out
     * independently. */
    double regularisation;
    /* How many slices on each side a point is pulled toward (through chains of relations).
     * Default 3 (umap-learn's alignment_window_size); 0: no alignment. */
    int window_size;
} umapc_aligned_options;

UMAPC_API void umapc_aligned_options_init(umapc_aligned_options *opts);

typedef struct umapc_aligned_slice {
    float *embedding;         /* n x dim, row-major: the initial layout in, the result out */
    size_t n;                 /* >= 1 */
    const umapc_graph *graph; /* n x n symmetric fuzzy graph (umapc_fuzzy_simplicial_set) */
    /* Nonzero: the slice keeps its embedding and only pulls the others (umap-learn's update,
     * where the slices fitted before stay where they are). */
    int fixed;
} umapc_aligned_slice;

/* Lays out n_slices slices together. relations[i] (i < n_slices - 1) has slices[i].n entries:
 * relations[i][p] is the point of slice i + 1 related to point p of slice i, or -1. Relations
 * chain: point p of slice m is related to the point of slice m + o (0 < |o| <= window_size)
 * that following them (backwards for o < 0) reaches; going backwards, a point of slice i + 1
 * related from several of slice i goes to the one with the largest index.
 *
 * Each epoch runs one epoch of every moving slice's layout, then pulls every point x of a moving
 * slice toward its related points y_o, all read where the slices' epochs left them, as s of
 * umap-learn's moves x += alpha c_o (y_o - x) in a row would: x moves 1 - (1 - alpha C)^s of the
 * way to the c-weighted mean of the y_o (all the way once alpha C >= 1), where alpha is the
 * epoch's learning rate, C the sum of the c_o,
 *   c_o = regularisation * exp(1 - |o|) * jaccard_o,
 * jaccard_o the Jaccard similarity of x's graph neighbours carried to slice m + o through the
 * relations and y_o's graph neighbours there (1 when both are empty), as umap-learn weighs them,
 * and s the number of moves umap-learn applies the pull at per epoch on average: over the edges of
 * the point the layout samples, w / max(w) per epoch, times (1 + negative_sample_rate) at the
 * point's end of the edge and 1 at the other. Fixed slices do not move. The result is the same for
 * any n_threads. Progress stage "optimize layout" counts epochs; a stop request returns
 * UMAPC_ERR_INTERRUPTED, the embeddings at their last positions. */
UMAPC_API umapc_status umapc_optimize_aligned(umapc_aligned_slice *slices, size_t n_slices,
                                              size_t dim, const umapc_idx *const *relations,
                                              const umapc_aligned_options *opts,
                                              const umapc_progress *progress, umapc_error *err);

#ifdef __cplusplus
}
#endif

#endif
