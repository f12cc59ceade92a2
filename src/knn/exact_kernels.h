/* Internal side of exact search: the register-blocked GEMM tile kernels (one per instruction set,
 * chosen at run time), panel packing, and an entry point that takes the kernel explicitly so that
 * tests can compare instruction sets. */
#ifndef UMAPC_SRC_EXACT_KERNELS_H
#define UMAPC_SRC_EXACT_KERNELS_H

#include "cpu.h"
#include "umapc/exact.h"

#include <stddef.h>
#include <stdint.h>

/* Per-tile inputs. The kernel computes, for the mr rows of a packed A micro-panel and the nr
 * columns of a packed B panel,
 *     value[r][c] = min(row_norm[r] + col_norm[c] - 2 * dot(a_r, b_c), clamp_max)
 * and flags column c as a hit of row r when value[r][c] - col_slack[c] <= row_bound[r]. */
typedef struct exact_tile_args {
    const float *row_norm;  /* mr */
    const float *col_norm;  /* nr */
    const float *col_slack; /* nr */
    const float *row_bound; /* mr */
    float clamp_max;
} exact_tile_args;

/* a: packed A micro-panel (dim x mr, a[k * mr + r]); b: packed B panel (dim x nr, b[k * nr + c],
 * 64-byte aligned); tile: mr x nr values, row-major; hits: bit c of hits[r] set for a hit. */
typedef void (*exact_tile_fn)(size_t dim, const float *a, const float *b,
                              const exact_tile_args *args, float *tile, uint32_t *hits);

typedef struct exact_gemm_kernel {
    exact_tile_fn tile;
    size_t mr; /* rows of A per tile */
    size_t nr; /* columns of B per tile, at most 32 (hits are 32-bit masks) */
    const char *level;
} exact_gemm_kernel;

/* Defined in the SIMD files (only in builds for their architecture); use only through the checked
 * accessors below. */
#if defined(UMAPC_HAVE_X86_KERNELS)
extern const exact_gemm_kernel exact_kernel_avx2_table;
extern const exact_gemm_kernel exact_kernel_avx512_table;
#endif
#if defined(UMAPC_HAVE_NEON_KERNELS)
extern const exact_gemm_kernel exact_kernel_neon_table;
#endif

/* The kernel of one level, for tests; NULL when the CPU (or build) lacks it. */
const exact_gemm_kernel *exact_kernel_at(umapc_level level);
/* The kernel of the level in use (umapc_cpu_level). */
const exact_gemm_kernel *exact_kernel_select(void);

/* Writes row (dim floats) as column c of a packed panel of the given width. */
void exact_pack_column(const float *row, size_t dim, size_t width, size_t c, float *panel);
/* Packs rows[0 .. n_rows) (row-major, stride dim) into one panel of the given width; columns past
 * n_rows are zero. */
void exact_pack_panel(const float *rows, size_t n_rows, size_t dim, size_t width, float *panel);

/* umapc_exact_search with an explicit GEMM kernel (NULL: direct evaluation only, the reference
 * path), on rows already in search form (metric_search_rows: the index keeps its rows so). */
umapc_status exact_search_with(const exact_gemm_kernel *kernel, const umapc_metric *metric,
                               const float *data, size_t n, size_t dim, const float *queries,
                               size_t nq, size_t k, const uint8_t *filter_mask,
                               const umapc_exact_options *opts, const umapc_progress *progress,
                               umapc_idx *indices, float *distances, umapc_error *err);

/* umapc_exact_knn_graph with an explicit GEMM kernel, on rows in search form. */
umapc_status exact_knn_graph_with(const exact_gemm_kernel *kernel, const umapc_metric *metric,
                                  const float *data, size_t n, size_t dim, size_t k,
                                  const umapc_exact_options *opts, const umapc_progress *progress,
                                  umapc_idx *indices, float *distances, umapc_error *err);

#endif
