#include "parallel.h"

#include "internal.h"

#include <stdlib.h>

#ifdef _OPENMP
#define OMP(x) _Pragma(#x)
#else
#define OMP(x)
#endif

typedef struct loop_state {
    size_t done;
    int stop, oom;
} loop_state;

static void raise_flag(int *flag) {
    OMP(omp atomic write)
    *flag = 1;
}

static int halted(loop_state *st) {
    int stop, oom;
    OMP(omp atomic read)
    stop = st->stop;
    OMP(omp atomic read)
    oom = st->oom;
    return stop || oom;
}

/* Counts a finished chunk of `step` items. Thread 0 reports once the count passed a multiple of
 * report_every since its last report, wherever the other threads took it meanwhile, so that a
 * request to stop is seen as soon with many threads as with one; it shares the request through
 * st->stop. */
static void count_done(const umapc_parallel_loop *loop, loop_state *st, size_t step,
                       size_t *reported) {
    size_t now, every = loop->report_every ? loop->report_every : 1;
    OMP(omp atomic capture)
    now = st->done += step;
    if (umapc_thread_id() != 0 || now / every == *reported / every) {
        return;
    }
    *reported = now;
    if (umapc_progress_report(loop->progress, loop->stage, now, loop->n_items)) {
        raise_flag(&st->stop);
    }
}

static int thread_init(const umapc_parallel_loop *loop, void **scratch) {
    *scratch = NULL;
    if (loop->scratch_size > 0) {
        *scratch = calloc(1, loop->scratch_size);
        if (*scratch == NULL) {
            return -1;
        }
    }
    return loop->init != NULL ? loop->init(loop->ctx, *scratch) : 0;
}

static int thread_finish(const umapc_parallel_loop *loop, void *scratch) {
    int rc = 0;
    if (loop->finish != NULL && (scratch != NULL || loop->scratch_size == 0)) {
        rc = loop->finish(loop->ctx, scratch);
    }
    free(scratch);
    return rc;
}

/* One thread's part; every thread of the team must reach the worksharing loop, also one whose
 * scratch failed. */
static void run_thread(const umapc_parallel_loop *loop, loop_state *st) {
    size_t n = loop->n_items, chunk = loop->chunk ? loop->chunk : 1;
    size_t n_chunks = n / chunk + (n % chunk != 0);
    size_t reported = 0;
    void *scratch;
    int ok = thread_init(loop, &scratch) == 0;
    if (!ok) {
        raise_flag(&st->oom);
    }
    OMP(omp for schedule(dynamic, 1))
    for (size_t c = 0; c < n_chunks; c++) {
        if (!ok || halted(st)) {
            continue;
        }
        size_t lo = c * chunk, hi = n - lo < chunk ? n : lo + chunk;
        ok = loop->body(loop->ctx, scratch, lo, hi) == 0;
        if (!ok) {
            raise_flag(&st->oom);
            continue;
        }
        count_done(loop, st, hi - lo, &reported);
    }
    if (thread_finish(loop, scratch) != 0) {
        raise_flag(&st->oom);
    }
}

umapc_status umapc_parallel_for(const umapc_parallel_loop *loop, umapc_error *err) {
    loop_state st = {0, 0, 0};
    int n_threads = loop->n_threads > 0 ? loop->n_threads : 1;
    (void)n_threads; /* only read by the OpenMP pragma */
    OMP(omp parallel num_threads(n_threads)) {
        run_thread(loop, &st);
    }
    if (st.oom) {
        return loop->oom_message != NULL
                   ? umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "%s", loop->oom_message)
                   : umapc_fail(err, UMAPC_ERR_OUT_OF_MEMORY, "%s: out of memory", loop->stage);
    }
    if (st.stop ||
        umapc_progress_report(loop->progress, loop->stage, loop->n_items, loop->n_items)) {
        return loop->stop_message != NULL
                   ? umapc_fail(err, UMAPC_ERR_INTERRUPTED, "%s", loop->stop_message)
                   : umapc_fail(err, UMAPC_ERR_INTERRUPTED, "%s: interrupted", loop->stage);
    }
    return UMAPC_OK;
}
