/* Sparse-graph helpers shared by the UMAP stages; not part of the public API. */
#ifndef UMAPC_GRAPH_INTERNAL_H
#define UMAPC_GRAPH_INTERNAL_H

#include "internal.h"
#include "umapc/fuzzy.h"

/* Allocates the arrays of an n_rows x n_cols graph with room for nnz entries (indptr zeroed).
 * Returns 0 on success, -1 when out of memory (graph left zeroed). */
int umapc_graph_alloc(umapc_graph *graph, size_t n_rows, size_t n_cols, size_t nnz);

/* The transpose of src by counting sort; columns come out ascending because rows of src are read
 * in order. When edge_of is not NULL it receives, for every entry of the transpose, the position
 * of the same entry in src. */
int umapc_graph_transpose(const umapc_graph *src, umapc_graph *dst, int64_t **edge_of);

/* Sum of a double array over a partition into fixed blocks, added in block order, so the result
 * does not depend on the thread count. */
double umapc_sum_fixed(const double *values, size_t n, int n_threads);

#endif
