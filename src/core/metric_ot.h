/* Optimal transport between two rows (kantorovich, sinkhorn): the solvers behind
 * metric_extra_distance. */
#ifndef UMAPC_SRC_METRIC_OT_H
#define UMAPC_SRC_METRIC_OT_H

#include <stddef.h>

/* The exact transport cost between a and b, each normalised to sum 1 and restricted to its
 * nonzero bins, under cost (dim x dim, row-major, >= 0): the minimum over plans with those
 * marginals of sum plan[i][j] * cost[i][j], by the network simplex. At most max_iter pivots;
 * at the limit the current plan's cost (feasible, possibly not the cheapest, as pynndescent's
 * network simplex returns). NaN for a row without positive mass or when scratch memory cannot be
 * had. */
float metric_ot_kantorovich(const float *cost, double max_iter, const float *a, const float *b,
                            size_t dim);

/* pynndescent's Sinkhorn distance: the plan u_i K_ij v_j with K = exp(-cost / regularization)
 * between the normalised nonzero bins of a and b, by its iterations and stopping rules (at most
 * 1000 rounds, a plan that changes by <= 1e-9 relative, a right marginal within 1e-9), and the
 * plan's cost. NaN as metric_ot_kantorovich. */
float metric_ot_sinkhorn(const float *cost, double regularization, const float *a, const float *b,
                         size_t dim);

#endif
