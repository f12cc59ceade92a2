#include "check.h"
#include "internal.h"
#include "umapc.h"

#include <string.h>

static void test_errors(void) {
    umapc_error err = {0};
    umapc_status st = umapc_fail(&err, UMAPC_ERR_INVALID_ARGUMENT, "k=%d too large", 7);
    CHECK(st == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(err.status == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(err.message, "k=7 too large") == 0);
    CHECK(umapc_fail(NULL, UMAPC_ERR_IO, "ignored") == UMAPC_ERR_IO);
}

static void test_threads(void) {
    int usable = umapc_usable_cpus();
    CHECK(usable >= 1);
    CHECK(umapc_resolve_threads(1) == 1);
    CHECK(umapc_resolve_threads(3) == (usable < 3 ? usable : 3));
    CHECK(umapc_resolve_threads(-1) == usable);
    CHECK(umapc_resolve_threads(0) == umapc_resolve_threads(-1));
    /* Absurd requests become the usable CPU count, never that many OS threads. */
    CHECK(umapc_resolve_threads(4096) == usable);
    CHECK(umapc_resolve_threads(INT32_MAX) == usable);
}

static void test_rng(void) {
    umapc_rng a, b;
    umapc_rng_seed(&a, 42);
    umapc_rng_seed(&b, 42);
    int same = 1;
    size_t counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t x = umapc_rng_next(&a);
        same &= (x == umapc_rng_next(&b));
        (void)umapc_rng_next(&b);
        counts[umapc_rng_below(&a, 10)]++;
    }
    CHECK(same);
    for (int i = 0; i < 10; i++) {
        CHECK(counts[i] > 9500 && counts[i] < 10500); /* 100000 draws over 10 bins */
    }
    CHECK(umapc_rand_at(1, 2, 3) == umapc_rand_at(1, 2, 3));
    CHECK(umapc_rand_at(1, 2, 3) != umapc_rand_at(1, 2, 4));
}

int main(void) {
    test_errors();
    test_threads();
    test_rng();
    CHECK_DONE();
}
