/* umapc_parallel_for (src/core/parallel.c): every item once in fixed chunks whatever the
 * threads, and the out-of-memory and stop paths with their messages and reports. */
#include "check.h"
#include "internal.h"
#include "parallel.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct counts {
    size_t n, chunk;
    unsigned char *ran; /* per item; chunks are disjoint, so no two threads write one */
    int bad_chunk;      /* a body call that was not a whole chunk */
    size_t fail_at;     /* the body fails on the chunk holding this item (SIZE_MAX: never) */
    int fail_init;      /* every init fails */
    int fail_finish;
    atomic_int inits, finishes;
} counts;

typedef struct scratch_t {
    int ready;
} scratch_t;

static int count_init(void *ctx, void *scratch) {
    counts *c = ctx;
    atomic_fetch_add(&c->inits, 1);
    ((scratch_t *)scratch)->ready = 1;
    return c->fail_init ? -1 : 0;
}

static int count_body(void *ctx, void *scratch, size_t lo, size_t hi) {
    counts *c = ctx;
    size_t chunk = c->chunk ? c->chunk : 1;
    if (((scratch_t *)scratch)->ready != 1 || lo % chunk != 0 || hi <= lo ||
        (hi - lo != chunk && hi != c->n)) {
        c->bad_chunk = 1; /* a benign race at worst: only ever set to 1 */
    }
    if (c->fail_at >= lo && c->fail_at < hi) {
        return -1;
    }
    for (size_t i = lo; i < hi; i++) {
        c->ran[i]++;
    }
    return 0;
}

static int count_finish(void *ctx, void *scratch) {
    counts *c = ctx;
    (void)scratch;
    atomic_fetch_add(&c->finishes, 1);
    return c->fail_finish;
}

typedef struct progress_log {
    size_t calls, last_done, total, bad;
    size_t stop_at_call; /* 0: never */
    int stop_at_end;
} progress_log;

static int log_progress(void *user, const char *stage, size_t done, size_t total) {
    progress_log *log = user;
    if (strcmp(stage, "test loop") != 0 || done > total || done < log->last_done) {
        log->bad++;
    }
    log->calls++;
    log->last_done = done;
    log->total = total;
    return (log->stop_at_call != 0 && log->calls >= log->stop_at_call) ||
           (log->stop_at_end && done == total);
}

static umapc_status run(counts *c, int threads, size_t every, progress_log *log, umapc_error *err) {
    memset(c->ran, 0, c->n ? c->n : 1);
    c->bad_chunk = 0;
    atomic_store(&c->inits, 0);
    atomic_store(&c->finishes, 0);
    umapc_progress progress = {log_progress, log};
    umapc_parallel_loop loop = {.n_items = c->n,
                                .chunk = c->chunk,
                                .n_threads = threads,
                                .progress = &progress,
                                .stage = "test loop",
                                .report_every = every,
                                .ctx = c,
                                .scratch_size = sizeof(scratch_t),
                                .init = count_init,
                                .body = count_body,
                                .finish = count_finish};
    return umapc_parallel_for(&loop, err);
}

static size_t items_run(const counts *c) {
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) {
        total += c->ran[i];
    }
    return total;
}

static int each_once(const counts *c) {
    for (size_t i = 0; i < c->n; i++) {
        if (c->ran[i] != 1) {
            return 0;
        }
    }
    return 1;
}

static counts make_counts(size_t n, size_t chunk) {
    counts c = {.n = n, .chunk = chunk, .ran = malloc(n ? n : 1), .fail_at = SIZE_MAX};
    return c;
}

static void test_every_item_once(void) {
    const size_t sizes[] = {0, 1, 7, 1000, 1001};
    const size_t chunks[] = {0, 1, 7, 64};
    const int threads[] = {1, 2, 3, 8};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++) {
        for (size_t b = 0; b < sizeof chunks / sizeof *chunks; b++) {
            for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
                counts c = make_counts(sizes[a], chunks[b]);
                progress_log log = {0};
                umapc_error err = {0};
                int nt = umapc_resolve_threads(threads[t]);
                CHECK(run(&c, nt, 16, &log, &err) == UMAPC_OK);
                CHECK(each_once(&c) && !c.bad_chunk);
                CHECK(atomic_load(&c.inits) == atomic_load(&c.finishes));
                CHECK(log.bad == 0 && log.calls >= 1);
                CHECK(log.last_done == c.n && log.total == c.n); /* the final report */
                free(c.ran);
            }
        }
    }
}

static void test_out_of_memory(void) {
    int nt = umapc_resolve_threads(2);
    counts c = make_counts(1000, 8);
    progress_log log = {0};
    umapc_error err = {0};
    c.fail_init = 1;
    CHECK(run(&c, nt, 1, &log, &err) == UMAPC_ERR_OUT_OF_MEMORY);
    CHECK(err.status == UMAPC_ERR_OUT_OF_MEMORY);
    CHECK(strcmp(err.message, "test loop: out of memory") == 0);
    CHECK(items_run(&c) == 0 && log.calls == 0);
    /* a team may be smaller than asked for, and is one thread without OpenMP */
    CHECK(atomic_load(&c.finishes) == atomic_load(&c.inits) && atomic_load(&c.inits) >= 1);

    c.fail_init = 0;
    c.fail_at = 500;
    log = (progress_log){0};
    CHECK(run(&c, nt, 1, &log, &err) == UMAPC_ERR_OUT_OF_MEMORY);
    CHECK(c.ran[500] == 0 && items_run(&c) < c.n);
    CHECK(log.bad == 0 && (log.calls == 0 || log.last_done < c.n)); /* no final report */

    c.fail_at = SIZE_MAX;
    c.fail_finish = 1;
    log = (progress_log){0};
    CHECK(run(&c, nt, 2 * c.n, &log, &err) == UMAPC_ERR_OUT_OF_MEMORY);
    CHECK(each_once(&c) && log.calls == 0); /* none on the way, and no final one */
    free(c.ran);
}

static void test_stop(void) {
    counts c = make_counts(1000, 1);
    progress_log log = {.stop_at_call = 1};
    umapc_error err = {0};
    /* One thread: the first report comes after the first item, and nothing runs after it. */
    CHECK(run(&c, 1, 1, &log, &err) == UMAPC_ERR_INTERRUPTED);
    CHECK(err.status == UMAPC_ERR_INTERRUPTED);
    CHECK(strcmp(err.message, "test loop: interrupted") == 0);
    CHECK(items_run(&c) == 1 && log.calls == 1 && log.last_done == 1);

    log = (progress_log){.stop_at_call = 2};
    CHECK(run(&c, 1, 100, &log, &err) == UMAPC_ERR_INTERRUPTED);
    CHECK(items_run(&c) == 200 && log.calls == 2 && log.last_done == 200);

    log = (progress_log){.stop_at_call = 1};
    /* (The other threads may have run everything before thread 0 claimed a chunk: then the
     * final report is the first.) */
    CHECK(run(&c, umapc_resolve_threads(2), 1, &log, &err) == UMAPC_ERR_INTERRUPTED);
    CHECK(log.calls == 1);

    /* A stop asked for by the final report still fails the call, after every item ran. */
    log = (progress_log){.stop_at_end = 1};
    CHECK(run(&c, umapc_resolve_threads(2), 100, &log, &err) == UMAPC_ERR_INTERRUPTED);
    CHECK(each_once(&c) && log.last_done == c.n);
    free(c.ran);
}

static int fail_messages_body(void *ctx, void *scratch, size_t lo, size_t hi) {
    (void)ctx;
    (void)scratch;
    (void)hi;
    return lo == 3 ? -1 : 0;
}

static int stop_now(void *user, const char *stage, size_t done, size_t total) {
    (void)user;
    (void)stage;
    (void)done;
    (void)total;
    return 1;
}

/* Given messages replace the stage's; no scratch and no init or finish is a loop too. */
static void test_messages(void) {
    umapc_progress stop = {stop_now, NULL};
    umapc_parallel_loop loop = {.n_items = 10,
                                .chunk = 1,
                                .n_threads = 1,
                                .progress = NULL,
                                .stage = "test loop",
                                .report_every = 1,
                                .oom_message = "custom: out of memory",
                                .stop_message = "custom: interrupted",
                                .body = fail_messages_body};
    umapc_error err = {0};
    CHECK(umapc_parallel_for(&loop, &err) == UMAPC_ERR_OUT_OF_MEMORY);
    CHECK(strcmp(err.message, "custom: out of memory") == 0);
    loop.n_items = 3;
    loop.progress = &stop;
    CHECK(umapc_parallel_for(&loop, &err) == UMAPC_ERR_INTERRUPTED);
    CHECK(strcmp(err.message, "custom: interrupted") == 0);
    loop.progress = NULL;
    CHECK(umapc_parallel_for(&loop, NULL) == UMAPC_OK);
}

int main(void) {
    test_every_item_once();
    test_out_of_memory();
    test_stop();
    test_messages();
    CHECK_DONE();
}
