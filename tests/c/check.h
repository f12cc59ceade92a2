/* Minimal assertions for the C tests: a failed check prints where and why, and the test binary
 * exits non-zero at the end. */
#ifndef UMAPC_TEST_CHECK_H
#define UMAPC_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_CLOSE(a, b, rel, abs_tol)                                                            \
    do {                                                                                           \
        double ca_ = (double)(a), cb_ = (double)(b);                                               \
        if (!(fabs(ca_ - cb_) <= (abs_tol) + (rel) * fabs(cb_))) {                                 \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__, __LINE__, #a, ca_, \
                    #b, cb_);                                                                      \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        umapc_error ce_ = {0};                                                                     \
        umapc_status cs_ = (call);                                                                 \
        if (cs_ != UMAPC_OK) {                                                                     \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, ce_.message);    \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (check_failures) {                                                                      \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                              \
            return 1;                                                                              \
        }                                                                                          \
        return 0;                                                                                  \
    } while (0)

#endif
