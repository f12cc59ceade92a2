/* The one parallel loop of the stages that report progress, can be stopped and need per-thread
 * scratch; not part of the public API. */
#ifndef UMAPC_PARALLEL_H
#define UMAPC_PARALLEL_H

#include "umapc/common.h"

#include <stddef.h>

/* Items [0, n_items) in chunks of `chunk` consecutive items, claimed dynamically by the threads.
 * Chunk boundaries depend on n_items and chunk only and every item runs exactly once, so a body
 * whose items are independent (each writes its own output rows) gives the same result for any
 * thread count and schedule. */
typedef struct umapc_parallel_loop {
    size_t n_items;
    size_t chunk;  /* items per body call; 0 counts as 1 */
    int n_threads; /* as umapc_resolve_threads gave it */
    const umapc_progress *progress;
    const char *stage;   /* of the progress reports */
    size_t report_every; /* thread 0 reports when the items done pass a multiple of this (0: 1) */
    /* NULL: "<stage>: out of memory" and "<stage>: interrupted" */
    const char *oom_message, *stop_message;
    void *ctx;
    /* Each thread gets scratch_size zeroed bytes (NULL when 0) for its own buffers. init fills
     * them (nonzero: out of memory); finish frees them, also after a failed init, and may report
     * out of memory found late (nonzero); both may be NULL. body runs items [lo, hi); nonzero:
     * out of memory, after which no more chunks start. */
    size_t scratch_size;
    int (*init)(void *ctx, void *scratch);
    int (*body)(void *ctx, void *scratch, size_t lo, size_t hi);
    int (*finish)(void *ctx, void *scratch);
} umapc_parallel_loop;

/* Runs the loop: UMAPC_ERR_OUT_OF_MEMORY when a thread's scratch or a body call failed,
 * UMAPC_ERR_INTERRUPTED when a progress report asked to stop (then not every item ran), else
 * UMAPC_OK after a final report of n_items done (which may still ask to stop). */
umapc_status umapc_parallel_for(const umapc_parallel_loop *loop, umapc_error *err);

#endif
