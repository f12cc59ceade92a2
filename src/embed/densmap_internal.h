/* densMAP inside the layout (layout.c): the data radii once, the embedding radii per epoch. */
#ifndef UMAPC_DENSMAP_INTERNAL_H
#define UMAPC_DENSMAP_INTERNAL_H

#include "layout_kernels.h"
#include "umapc/densmap.h"
#include "umapc/layout.h"

typedef struct dens_state {
    float *R, *re, *phi_sum; /* per point */
    double lambda, var_shift, mu_tot;
    layout_dens view; /* what the executor reads, valid after dens_epoch */
} dens_state;

/* R: the data radii of the pruned graph g (weights = memberships mu), standardised (umap-learn's
 * (ro - mean) / std). Returns -1 when out of memory. */
int dens_prepare(dens_state *d, const umapc_graph *g, const umapc_layout_options *o, int n_threads);

/* The embedding radii re and membership sums phi_sum at pos, and the epoch's statistics. */
void dens_epoch(dens_state *d, const umapc_graph *g, const float *pos, size_t dim, float a, float b,
                int n_threads);

void dens_free(dens_state *d);

#endif
