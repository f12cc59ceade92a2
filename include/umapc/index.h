/* umapc: the nearest-neighbour index behind umapc.NNIndex, over the exact or the HNSW backend,
 * with a versioned, checksummed file format. */
#ifndef UMAPC_INDEX_H
#define UMAPC_INDEX_H

#include "exact.h"
#include "hnsw.h"
#include "knn_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_index umapc_index; /* opaque */

typedef enum umapc_backend { UMAPC_BACKEND_EXACT = 0, UMAPC_BACKEND_HNSW = 1 } umapc_backend;

typedef struct umapc_index_options {
    umapc_backend backend; /* Default UMAPC_BACKEND_EXACT. */
    /* The HNSW backend's graph and build threads; defaults as umapc_hnsw_options_init. The exact
     * backend only copies the rows and reads none of it. */
    umapc_hnsw_options hnsw;
} umapc_index_options;

UMAPC_API void umapc_index_options_init(umapc_index_options *opts);

/* Indexes n rows of dim floats (copied). Rows must be finite (checked). */
UMAPC_API umapc_status umapc_index_create(const umapc_metric *metric, const float *data, size_t n,
                                          size_t dim, const umapc_index_options *opts,
                                          const umapc_progress *progress, umapc_index **out,
                                          umapc_error *err);

/* umapc_index_create, the HNSW backend linked from the rows' k-NN graph (n x k ids) by
 * umapc_hnsw_build_from_graph instead of insertion searches; knn_indices NULL: umapc_index_create.
 * The exact backend ignores the graph. */
UMAPC_API umapc_status umapc_index_create_from_graph(const umapc_metric *metric, const float *data,
                                                     size_t n, size_t dim,
                                                     const umapc_index_options *opts,
                                                     const umapc_idx *knn_indices, size_t k,
                                                     const umapc_progress *progress,
                                                     umapc_index **out, umapc_error *err);

/* Appends n rows; ids continue from the current size. */
UMAPC_API umapc_status umapc_index_add(umapc_index *index, const float *data, size_t n,
                                       const umapc_run_options *opts,
                                       const umapc_progress *progress, umapc_error *err);

/* k nearest indexed rows per query, sorted by distance; padded with -1 / +inf when fewer than k
 * rows are allowed. Queries must be finite (checked). */
UMAPC_API umapc_status umapc_index_query(const umapc_index *index, const float *queries, size_t nq,
                                         size_t k, const umapc_query_options *opts,
                                         const umapc_progress *progress, umapc_idx *indices,
                                         float *distances, umapc_error *err);

/* All-points graph: row i starts with i itself at distance 0 (the exact backend reads only
 * opts->n_threads). */
UMAPC_API umapc_status umapc_index_knn_graph(const umapc_index *index, size_t k,
                                             const umapc_knn_graph_options *opts,
                                             const umapc_progress *progress, umapc_idx *indices,
                                             float *distances, umapc_error *err);

/* Getters; a NULL index reads as empty (size, dim and memory 0, the exact backend, the default
 * metric), as the HNSW getters do. */
UMAPC_API size_t umapc_index_size(const umapc_index *index);
UMAPC_API size_t umapc_index_dim(const umapc_index *index);
UMAPC_API umapc_backend umapc_index_backend(const umapc_index *index);
UMAPC_API umapc_metric umapc_index_metric(const umapc_index *index);
/* Bytes held by the index. */
UMAPC_API size_t umapc_index_memory(const umapc_index *index);

/* Opaque caller bytes stored with the index and covered by its checksum (the Python layer keeps
 * its parameters there). */
typedef struct umapc_blob {
    const uint8_t *data;
    size_t size;
} umapc_blob;

/* Writes to path through a temporary file renamed into place, so a crash never leaves a
 * half-written index behind. meta may have size 0. */
UMAPC_API umapc_status umapc_index_save(const umapc_index *index, const char *path, umapc_blob meta,
                                        umapc_error *err);
/* Reads an index; *meta receives a copy of the stored bytes (release it with umapc_free; NULL
 * when there were none) and *meta_size their count. */
UMAPC_API umapc_status umapc_index_load(const char *path, umapc_index **out, uint8_t **meta,
                                        size_t *meta_size, umapc_error *err);

/* The same format in memory (for pickling); release *buffer (and deserialize's *meta) with
 * umapc_free. */
UMAPC_API umapc_status umapc_index_serialize(const umapc_index *index, umapc_blob meta,
                                             uint8_t **buffer, size_t *size, umapc_error *err);
UMAPC_API umapc_status umapc_index_deserialize(const uint8_t *buffer, size_t size,
                                               umapc_index **out, uint8_t **meta, size_t *meta_size,
                                               umapc_error *err);

/* The file handling of save and load, for other files of the same care (the Python package's
 * sparse indexes): an exclusive temporary file in path's folder, fsynced and renamed over path,
 * the folder fsynced; and the whole of a regular file read (release *bytes with umapc_free). */
UMAPC_API umapc_status umapc_file_write_atomic(const char *path, const uint8_t *bytes, size_t size,
                                               umapc_error *err);
UMAPC_API umapc_status umapc_file_read(const char *path, uint8_t **bytes, size_t *size,
                                       umapc_error *err);

/* Whether the index keeps its rows as they were given, so that umapc_index_copy_rows can return
 * them bit for bit: exact indexes (but dot, whose rows are normalised), and HNSW indexes holding
 * lossless 8-bit codes or float rows of a metric that does not normalise them. */
UMAPC_API int umapc_index_rows_as_given(const umapc_index *index);

/* Copies the stored rows into out (size() x dim() floats): exact indexes' rows, and HNSW
 * indexes' where umapc_index_rows_as_given (decoded from 8-bit codes exactly); fails for an
 * HNSW index that keeps them normalised. */
UMAPC_API umapc_status umapc_index_copy_rows(const umapc_index *index, float *out,
                                             umapc_error *err);

UMAPC_API void umapc_index_free(umapc_index *index);

#ifdef __cplusplus
}
#endif

#endif
