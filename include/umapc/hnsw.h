/* umapc: hierarchical navigable small-world graph index (Malkov & Yashunin, TPAMI 2018). */
#ifndef UMAPC_HNSW_H
#define UMAPC_HNSW_H

#include "metric.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct umapc_hnsw umapc_hnsw; /* opaque */

typedef struct umapc_hnsw_options {
    size_t M;               /* links per node on upper layers (2M on layer 0). Default 16. */
    size_t ef_construction; /* beam width while inserting. Default 200. */
    uint64_t seed;          /* levels and tie-breaks; same seed => same graph. Default 0. */
    int n_threads;          /* <= 0: all cores. Default 0. The graph does not depend on it:
                               points are inserted in batches that search the graph frozen before
                               the batch, then link in a fixed order. */
    int lossless_codes;     /* nonzero: euclidean rows of integers spanning at most 255 in each
                               column (pixels, SIFT) are stored as 8-bit codes, which give the
                               same distances at a quarter of the memory. Default 1. */
} umapc_hnsw_options;

UMAPC_API void umapc_hnsw_options_init(umapc_hnsw_options *opts);

/* Builds an index over n rows (copied; the caller keeps data). Rows must be finite (checked). */
UMAPC_API umapc_status umapc_hnsw_build(const umapc_metric *metric, const float *data, size_t n,
                                        size_t dim, const umapc_hnsw_options *opts,
                                        const umapc_progress *progress, umapc_hnsw **out,
                                        umapc_error *err);

/* The same index from the k-NN graph of the rows instead of insertion searches, at a fraction of
 * the cost (what pynndescent does with its search graph): knn_indices holds k neighbour ids per
 * row (row-major n x k, -1 = none, the row itself allowed and skipped), as
 * umapc_nndescent_knn_graph writes them. Layer 0 links each row to its list and to the rows whose
 * lists hold it, diversified as an insertion diversifies; each upper layer is linked the same way
 * from a k-NN graph of its nodes (NN-descent), with the levels, storage and entry point an
 * insertion would give. The result is an index like any other (query, add, serialize). Its
 * recall follows the graph's: from NN-descent's 15-NN graph of 69k and 200k Fashion-MNIST rows,
 * recall@10 at ef 20 to 80 was at or above umapc_hnsw_build's, for 14-19x less build time
 * (docs/benchmarks.md, "HNSW from the k-NN graph"). Ids outside [-1, n) are an invalid
 * argument. opts->ef_construction is kept for later umapc_hnsw_add calls. */
UMAPC_API umapc_status umapc_hnsw_build_from_graph(const umapc_metric *metric, const float *data,
                                                   size_t n, size_t dim,
                                                   const umapc_hnsw_options *opts,
                                                   const umapc_idx *knn_indices, size_t k,
                                                   const umapc_progress *progress, umapc_hnsw **out,
                                                   umapc_error *err);

/* Inserts n more rows (ids continue from the current size) without a rebuild. Not safe while
 * queries run on the same index. If interrupted, the rows inserted so far stay (size() tells). */
UMAPC_API umapc_status umapc_hnsw_add(umapc_hnsw *index, const float *data, size_t n,
                                      const umapc_run_options *opts, const umapc_progress *progress,
                                      umapc_error *err);

/* Options of every query: umapc_hnsw_query and umapc_index_query (whose exact backend ignores
 * ef). */
typedef struct umapc_query_options {
    size_t ef;                  /* HNSW beam width; raised to k when smaller. Default 0: chosen
                                   from k as max(2k + 16, 40) (recall@k >= 0.95 on the
                                   benchmarks). */
    int n_threads;              /* <= 0: all cores. Default 0. */
    const uint8_t *filter_mask; /* size() bytes, nonzero = may be returned; NULL = all. The
                                   search walks through excluded nodes and collects allowed ones;
                                   a very selective mask is answered by scanning the allowed rows,
                                   so k allowed points exist => k results. */
} umapc_query_options;

UMAPC_API void umapc_query_options_init(umapc_query_options *opts);

/* k nearest rows for each of nq queries, sorted by true distance; missing results padded with
 * index -1 and distance +inf. Safe to call concurrently with other queries. */
UMAPC_API umapc_status umapc_hnsw_query(const umapc_hnsw *index, const float *queries, size_t nq,
                                        size_t k, const umapc_query_options *opts,
                                        const umapc_progress *progress, umapc_idx *indices,
                                        float *distances, umapc_error *err);

UMAPC_API size_t umapc_hnsw_size(const umapc_hnsw *index);
UMAPC_API size_t umapc_hnsw_dim(const umapc_hnsw *index);
/* Bytes the index holds (vectors, links, levels). */
UMAPC_API size_t umapc_hnsw_memory(const umapc_hnsw *index);

/* Serialisation to a caller-owned buffer (the index file format wraps it with a header and a
 * checksum). umapc_hnsw_serialized_size gives the exact byte count serialize writes. */
UMAPC_API size_t umapc_hnsw_serialized_size(const umapc_hnsw *index);
UMAPC_API umapc_status umapc_hnsw_serialize(const umapc_hnsw *index, uint8_t *buffer, size_t size,
                                            umapc_error *err);
/* Validates everything it reads (sizes, link targets, levels): a corrupt buffer is an error, never
 * a crash. */
UMAPC_API umapc_status umapc_hnsw_deserialize(const uint8_t *buffer, size_t size, umapc_hnsw **out,
                                              umapc_error *err);

UMAPC_API void umapc_hnsw_free(umapc_hnsw *index);

#ifdef __cplusplus
}
#endif

#endif
