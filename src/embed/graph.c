#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

void umapc_graph_free(umapc_graph *graph) {
    if (graph == NULL) {
        return;
    }
    free(graph->indptr);
    free(graph->indices);
    free(graph->data);
    memset(graph, 0, sizeof *graph);
}

int umapc_graph_alloc(umapc_graph *graph, size_t n_rows, size_t n_cols, size_t nnz) {
    memset(graph, 0, sizeof *graph);
    graph->indptr = calloc(n_rows + 1, sizeof *graph->indptr);
    graph->indices = malloc((nnz ? nnz : 1) * sizeof *graph->indices);
    graph->data = malloc((nnz ? nnz : 1) * sizeof *graph->data);
    if (graph->indptr == NULL || graph->indices == NULL || graph->data == NULL) {
        umapc_graph_free(graph);
        return -1;
    }
    graph->n_rows = n_rows;
    graph->n_cols = n_cols;
    graph->nnz = nnz;
    return 0;
}

int umapc_graph_transpose(const umapc_graph *src, umapc_graph *dst, int64_t **edge_of) {
    if (umapc_graph_alloc(dst, src->n_cols, src->n_rows, src->nnz) != 0) {
        return -1;
    }
    int64_t *where = NULL;
    if (edge_of != NULL) {
        where = malloc((src->nnz ? src->nnz : 1) * sizeof *where);
        if (where == NULL) {
            umapc_graph_free(dst);
            return -1;
        }
    }
    int64_t *next = dst->indptr;
    for (size_t e = 0; e < src->nnz; e++) {
        next[src->indices[e] + 1]++;
    }
    for (size_t c = 0; c < src->n_cols; c++) {
        next[c + 1] += next[c];
    }
    /* next[c] walks through row c of the transpose; afterwards it has moved to where row c + 1
     * starts, so shifting by one slot restores the offsets. */
    for (size_t r = 0; r < src->n_rows; r++) {
        for (int64_t e = src->indptr[r]; e < src->indptr[r + 1]; e++) {
            int64_t slot = next[src->indices[e]]++;
            dst->indices[slot] = (umapc_idx)r;
            dst->data[slot] = src->data[e];
            if (where != NULL) {
                where[slot] = e;
            }
        }
    }
    memmove(dst->indptr + 1, dst->indptr, src->n_cols * sizeof *dst->indptr);
    dst->indptr[0] = 0;
    if (edge_of != NULL) {
        *edge_of = where;
    }
    return 0;
}

double umapc_sum_fixed(const double *values, size_t n, int n_threads) {
    enum { BLOCK = 4096 };
    size_t n_blocks = (n + BLOCK - 1) / BLOCK;
    if (n_blocks <= 1) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            s += values[i];
        }
        return s;
    }
    double *partial = malloc(n_blocks * sizeof *partial);
    if (partial == NULL) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            s += values[i];
        }
        return s;
    }
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (size_t blk = 0; blk < n_blocks; blk++) {
        size_t end = (blk + 1) * BLOCK < n ? (blk + 1) * BLOCK : n;
        double s = 0.0;
        for (size_t i = blk * BLOCK; i < end; i++) {
            s += values[i];
        }
        partial[blk] = s;
    }
    double s = 0.0;
    for (size_t blk = 0; blk < n_blocks; blk++) {
        s += partial[blk];
    }
    free(partial);
    return s;
}

umapc_status umapc_graph_validate(const umapc_graph *graph, umapc_error *err) {
    if (graph == NULL || graph->indptr == NULL ||
        (graph->nnz > 0 && (graph->indices == NULL || graph->data == NULL))) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "graph arrays must not be NULL");
    }
    if (graph->indptr[0] != 0 || graph->indptr[graph->n_rows] != (int64_t)graph->nnz) {
        return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                          "graph indptr must start at 0 and end at nnz (%zu)", graph->nnz);
    }
    /* All offsets first: only a non-decreasing indptr from 0 to nnz keeps every row's entries
     * inside the arrays (a row that overruns them may come before the row where indptr falls). */
    for (size_t r = 0; r < graph->n_rows; r++) {
        if (graph->indptr[r + 1] < graph->indptr[r]) {
            return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT, "graph indptr decreases at row %zu",
                              r);
        }
    }
    for (size_t r = 0; r < graph->n_rows; r++) {
        int64_t lo = graph->indptr[r], hi = graph->indptr[r + 1];
        for (int64_t e = lo; e < hi; e++) {
            umapc_idx c = graph->indices[e];
            if (c < 0 || (size_t)c >= graph->n_cols || (e > lo && c <= graph->indices[e - 1])) {
                return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                                  "graph row %zu: columns must be in [0, %zu) and strictly "
                                  "ascending",
                                  r, graph->n_cols);
            }
            float w = graph->data[e];
            if (!(w >= 0.0f) || w > 3.4e38f) {
                return umapc_fail(err, UMAPC_ERR_INVALID_ARGUMENT,
                                  "graph row %zu: weights must be finite and non-negative", r);
            }
        }
    }
    return UMAPC_OK;
}
