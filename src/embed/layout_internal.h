/* A layout fit whose epochs are driven from outside (the aligned layout, aligned_layout.c): the
 * same schedule, executors and result as umapc_optimize_layout's fit, one epoch per call, so that
 * a caller can move the points between epochs. Not part of the public API. */
#ifndef UMAPC_LAYOUT_INTERNAL_H
#define UMAPC_LAYOUT_INTERNAL_H

#include "umapc/layout.h"

#include <stdint.h>

typedef struct layout_fit layout_fit;

/* Checks the arguments as umapc_optimize_layout does for a fit (tail NULL) and prepares its
 * n_epochs > 0 epochs. head (n x dim) is read now and written back by layout_close; in between
 * the points live in layout_positions. */
umapc_status layout_open(layout_fit **out, float *head, size_t n, size_t dim,
                         const umapc_graph *graph, const umapc_layout_options *opts, int n_epochs,
                         umapc_error *err);

/* Epoch `epoch` (0, 1, ... in turn, below n_epochs): UMAPC_ERR_OUT_OF_MEMORY is the only failure.
 * Progress is the caller's to report. */
umapc_status layout_epoch(layout_fit *f, int epoch, umapc_error *err);

/* The points during the fit: point p of head is row layout_rank(f)[p] (the fit runs on the points
 * in a random order). Between epochs the caller may move them. */
float *layout_positions(layout_fit *f);
const int32_t *layout_rank(const layout_fit *f);

/* The learning rate the last epoch ran with. */
float layout_alpha(const layout_fit *f);

/* Writes the positions back to head (in head's order) and frees the fit; f may be NULL. */
void layout_close(layout_fit *f);

#endif
