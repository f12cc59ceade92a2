#include "check.h"
#include "internal.h"
#include "metric.h"
#include "umapc.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#define MAX_DIM 300

static void fill_normal(umapc_rng *rng, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* Sum of uniforms: roughly normal, signs and magnitudes mixed. */
        double s = umapc_rng_uniform(rng) + umapc_rng_uniform(rng) + umapc_rng_uniform(rng) - 1.5;
        x[i] = (float)(2.0 * s);
    }
}

/* Naive double-precision references, written independently of the library's formulas. */
static double ref_sqeuclidean(const float *a, const float *b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    return s;
}

static double ref_dot(const float *a, const float *b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

static double ref_manhattan(const float *a, const float *b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        s += fabs((double)a[i] - b[i]);
    }
    return s;
}

static double abs_sum(const float *a, const float *b, size_t d) {
    double s = 0;
    for (size_t i = 0; i < d; i++) {
        s += fabs((double)a[i]) * fabs((double)b[i]) + fabs((double)a[i]) + fabs((double)b[i]);
    }
    return s;
}

/* One kernel table against the double references, at every dim in 1..MAX_DIM and at unaligned
 * offsets so the vector loops, their tails and the masked loads are all exercised. */
static void check_table(const simd_kernels *k, umapc_rng *rng) {
    float *buf = malloc(2 * (MAX_DIM + 3) * sizeof(float));
    for (size_t dim = 1; dim <= MAX_DIM; dim++) {
        size_t off = dim % 3;
        float *a = buf + off;
        float *b = buf + MAX_DIM + 3 + off;
        fill_normal(rng, a, dim);
        fill_normal(rng, b, dim);
        /* fp32 sums of dim terms: error grows with dim and the magnitude of the terms. */
        double tol = 4e-7 * (double)dim;
        CHECK_CLOSE(k->sqeuclidean(a, b, dim), ref_sqeuclidean(a, b, dim), 1e-6,
                    tol * ref_sqeuclidean(a, b, dim) + 1e-6);
        CHECK_CLOSE(k->dot(a, b, dim), ref_dot(a, b, dim), 0.0, tol * abs_sum(a, b, dim));
        CHECK_CLOSE(k->manhattan(a, b, dim), ref_manhattan(a, b, dim), 1e-6,
                    tol * ref_manhattan(a, b, dim) + 1e-6);
        CHECK(k->sqeuclidean(a, a, dim) == 0.0f);
        CHECK(k->manhattan(b, b, dim) == 0.0f);
    }
    free(buf);
}

/* Every level of umapc_level; the ones this CPU or build lacks give NULL tables. */
#define N_LEVELS 4

static void test_simd_levels(void) {
    umapc_rng rng;
    umapc_rng_seed(&rng, 1);
    int n_tables = 0;
    for (int l = 0; l < N_LEVELS; l++) {
        const simd_kernels *k = simd_kernels_at((umapc_level)l);
        CHECK((k != NULL) == umapc_cpu_level_runs(umapc_cpu_detected(), (umapc_level)l));
        if (k != NULL) {
            CHECK(strcmp(k->level, umapc_cpu_level_name((umapc_level)l)) == 0);
            check_table(k, &rng);
            n_tables++;
        }
    }
    CHECK(n_tables >= 1);
    /* Every stage runs at the one level of cpu.c. */
    CHECK(simd_kernels_select() == simd_kernels_at(umapc_cpu_level()));
    CHECK(strcmp(simd_kernels_select()->level, umapc_simd_level()) == 0);
    fprintf(stderr, "simd level: %s (%d tables)\n", umapc_simd_level(), n_tables);
}

/* Rows that end right before an unreadable page: a kernel that reads past the end of a row (an
 * unmasked tail load) crashes here. */
static void test_no_overread(void) {
#if defined(__unix__)
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    if (mem == MAP_FAILED) {
        return;
    }
    /* Pages 1 and 3 are guards; a ends right before the first, b right before the second. */
    CHECK(mprotect(mem + page, page, PROT_NONE) == 0);
    CHECK(mprotect(mem + 3 * page, page, PROT_NONE) == 0);
    float *end_a = (float *)(mem + page), *end_b = (float *)(mem + 3 * page);
    for (size_t dim = 1; dim <= 67; dim++) {
        float *a = end_a - dim, *b = end_b - dim;
        for (size_t i = 0; i < dim; i++) {
            a[i] = (float)i;
            b[i] = 1.0f;
        }
        for (int l = 0; l < N_LEVELS; l++) {
            const simd_kernels *k = simd_kernels_at((umapc_level)l);
            if (k != NULL) {
                double ref = ref_sqeuclidean(a, b, dim);
                CHECK_CLOSE(k->sqeuclidean(a, b, dim), ref, 1e-6, 0.0);
                CHECK_CLOSE(k->dot(b, a, dim), ref_dot(a, b, dim), 1e-6, 0.0);
                CHECK_CLOSE(k->manhattan(a, b, dim), ref_manhattan(a, b, dim), 1e-6, 0.0);
                k->move_clipped(b, a, dim, 0.0f, 0.0f, 1.0f, 1.0f);
                CHECK(k->move_clipped_sqeuclidean(b, a, dim, 0.0f, 0.0f, 1.0f, 1.0f, a) >= 0.0f);
            }
        }
    }
    munmap(mem, 4 * page);
#endif
}

static void test_names(void) {
    static const struct {
        const char *name;
        umapc_metric_kind kind;
    } cases[] = {
        {"euclidean", UMAPC_METRIC_EUCLIDEAN},
        {"l2", UMAPC_METRIC_EUCLIDEAN},
        {"sqeuclidean", UMAPC_METRIC_SQEUCLIDEAN},
        {"manhattan", UMAPC_METRIC_MANHATTAN},
        {"l1", UMAPC_METRIC_MANHATTAN},
        {"taxicab", UMAPC_METRIC_MANHATTAN},
        {"chebyshev", UMAPC_METRIC_CHEBYSHEV},
        {"linfinity", UMAPC_METRIC_CHEBYSHEV},
        {"linfty", UMAPC_METRIC_CHEBYSHEV},
        {"linf", UMAPC_METRIC_CHEBYSHEV},
        {"minkowski", UMAPC_METRIC_MINKOWSKI},
        {"cosine", UMAPC_METRIC_COSINE},
        {"correlation", UMAPC_METRIC_CORRELATION},
        {"dot", UMAPC_METRIC_DOT},
        {"inner_product", UMAPC_METRIC_INNER_PRODUCT},
        {"canberra", UMAPC_METRIC_CANBERRA},
        {"braycurtis", UMAPC_METRIC_BRAYCURTIS},
        {"hamming", UMAPC_METRIC_HAMMING},
        {"jaccard", UMAPC_METRIC_JACCARD},
        {"hellinger", UMAPC_METRIC_HELLINGER},
        {"seuclidean", UMAPC_METRIC_SEUCLIDEAN},
        {"standardised_euclidean", UMAPC_METRIC_SEUCLIDEAN},
        {"wminkowski", UMAPC_METRIC_WMINKOWSKI},
        {"weighted_minkowski", UMAPC_METRIC_WMINKOWSKI},
        {"mahalanobis", UMAPC_METRIC_MAHALANOBIS},
        {"haversine", UMAPC_METRIC_HAVERSINE},
        {"spearmanr", UMAPC_METRIC_SPEARMANR},
        {"dice", UMAPC_METRIC_DICE},
        {"kulsinski", UMAPC_METRIC_KULSINSKI},
        {"matching", UMAPC_METRIC_MATCHING},
        {"rogerstanimoto", UMAPC_METRIC_ROGERSTANIMOTO},
        {"russellrao", UMAPC_METRIC_RUSSELLRAO},
        {"sokalmichener", UMAPC_METRIC_SOKALMICHENER},
        {"sokalsneath", UMAPC_METRIC_SOKALSNEATH},
        {"yule", UMAPC_METRIC_YULE},
        {"jensen_shannon", UMAPC_METRIC_JENSEN_SHANNON},
        {"jensen-shannon", UMAPC_METRIC_JENSEN_SHANNON},
        {"symmetric_kl", UMAPC_METRIC_SYMMETRIC_KL},
        {"symmetric-kl", UMAPC_METRIC_SYMMETRIC_KL},
        {"symmetric_kullback_liebler", UMAPC_METRIC_SYMMETRIC_KL},
        {"ll_dirichlet", UMAPC_METRIC_LL_DIRICHLET},
        {"wasserstein_1d", UMAPC_METRIC_WASSERSTEIN_1D},
        {"wasserstein-1d", UMAPC_METRIC_WASSERSTEIN_1D},
        {"kantorovich_1d", UMAPC_METRIC_WASSERSTEIN_1D},
        {"kantorovich-1d", UMAPC_METRIC_WASSERSTEIN_1D},
        {"circular_kantorovich", UMAPC_METRIC_CIRCULAR_KANTOROVICH},
        {"circular_wasserstein", UMAPC_METRIC_CIRCULAR_KANTOROVICH},
        {"poincare", UMAPC_METRIC_POINCARE},
        {"true_angular", UMAPC_METRIC_TRUE_ANGULAR},
        {"tsss", UMAPC_METRIC_TSSS},
        {"bit_hamming", UMAPC_METRIC_BIT_HAMMING},
        {"bit_jaccard", UMAPC_METRIC_BIT_JACCARD},
        {"softmax_hellinger", UMAPC_METRIC_SOFTMAX_HELLINGER},
        {"kantorovich", UMAPC_METRIC_KANTOROVICH},
        {"wasserstein", UMAPC_METRIC_KANTOROVICH},
        {"sinkhorn", UMAPC_METRIC_SINKHORN},
        {"categorical", UMAPC_METRIC_CATEGORICAL},
        {"ordinal", UMAPC_METRIC_ORDINAL},
        {"count", UMAPC_METRIC_POISSON_COUNT},
        {"direct_cosine", UMAPC_METRIC_DOT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        umapc_metric_kind kind = UMAPC_METRIC_COUNT_;
        umapc_error err = {0};
        CHECK(umapc_metric_parse(cases[i].name, &kind, &err) == UMAPC_OK);
        CHECK(kind == cases[i].kind);
    }
    for (int k = 0; k < UMAPC_METRIC_COUNT_; k++) {
        umapc_metric_kind back = UMAPC_METRIC_COUNT_;
        const char *name = umapc_metric_name((umapc_metric_kind)k);
        CHECK(name != NULL && umapc_metric_parse(name, &back, NULL) == UMAPC_OK && (int)back == k);
    }
    CHECK(umapc_metric_name(UMAPC_METRIC_COUNT_) == NULL);
    size_t n_alias = 0;
    while (umapc_metric_alias(n_alias) != NULL) {
        n_alias++;
    }
    CHECK(n_alias == sizeof cases / sizeof cases[0]);

    const char *bad[] = {"", "Euclidean", "l3", "euclidean ", "wasserstein_2d", "string"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        umapc_metric_kind kind = UMAPC_METRIC_DOT;
        umapc_error err = {0};
        CHECK(umapc_metric_parse(bad[i], &kind, &err) == UMAPC_ERR_INVALID_ARGUMENT);
        CHECK(err.status == UMAPC_ERR_INVALID_ARGUMENT && strstr(err.message, "hellinger"));
        CHECK(kind == UMAPC_METRIC_DOT);
    }
    CHECK(umapc_metric_parse(NULL, NULL, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_metric_is_angular(UMAPC_METRIC_COSINE) &&
          umapc_metric_is_angular(UMAPC_METRIC_DOT));
    CHECK(!umapc_metric_is_angular(UMAPC_METRIC_EUCLIDEAN) &&
          !umapc_metric_is_angular(UMAPC_METRIC_INNER_PRODUCT));
}

static void test_validate(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    CHECK(m.kind == UMAPC_METRIC_EUCLIDEAN && m.p == 2.0);
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_OK);
    m.kind = UMAPC_METRIC_MINKOWSKI;
    const double bad_p[] = {0.0, -1.0, INFINITY, NAN};
    for (size_t i = 0; i < 4; i++) {
        umapc_error err = {0};
        m.p = bad_p[i];
        CHECK(umapc_metric_validate(&m, &err) == UMAPC_ERR_INVALID_ARGUMENT);
        CHECK(strstr(err.message, "minkowski") != NULL);
        float x = 1.0f, out = 0.0f;
        CHECK(umapc_pairwise_distances(&m, &x, 1, &x, 1, 1, &out, &(umapc_run_options){1}, NULL) ==
              UMAPC_ERR_INVALID_ARGUMENT);
    }
    m.p = 0.5;
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_OK);
    m.kind = (umapc_metric_kind)99;
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_ERR_INVALID_ARGUMENT);

    m.kind = UMAPC_METRIC_HELLINGER;
    float neg[4] = {0.1f, 0.2f, -0.3f, 0.4f};
    umapc_error err = {0};
    CHECK(umapc_metric_check_data(&m, neg, 2, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "nonnegative") != NULL);
    float out[4];
    CHECK(umapc_pairwise_distances(&m, neg, 2, neg, 2, 2, out, &(umapc_run_options){1}, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    m.kind = UMAPC_METRIC_EUCLIDEAN;
    CHECK(umapc_metric_check_data(&m, neg, 2, 2, NULL) == UMAPC_OK);
}

/* Reference values in double, by the textbook formulas (pynndescent's conventions for 0/0). */
static double ref_distance(const umapc_metric *m, const float *a, const float *b, size_t d) {
    double num = 0, den = 0, aa = 0, bb = 0, ab = 0, mx = 0;
    size_t cnt = 0, cnt2 = 0;
    switch (m->kind) {
    case UMAPC_METRIC_EUCLIDEAN:
        return sqrt(ref_sqeuclidean(a, b, d));
    case UMAPC_METRIC_SQEUCLIDEAN:
        return ref_sqeuclidean(a, b, d);
    case UMAPC_METRIC_MANHATTAN:
        return ref_manhattan(a, b, d);
    case UMAPC_METRIC_CHEBYSHEV:
        /* Not fmax: gcc 12 for aarch64 fails (internal compiler error) vectorizing that
         * reduction at -O3. No NaN reaches the reference. */
        for (size_t i = 0; i < d; i++) {
            double e = fabs((double)a[i] - b[i]);
            mx = e > mx ? e : mx;
        }
        return mx;
    case UMAPC_METRIC_MINKOWSKI:
        for (size_t i = 0; i < d; i++) {
            num += pow(fabs((double)a[i] - b[i]), m->p);
        }
        return pow(num, 1.0 / m->p);
    case UMAPC_METRIC_COSINE:
    case UMAPC_METRIC_CORRELATION: {
        double ma = 0, mb = 0;
        if (m->kind == UMAPC_METRIC_CORRELATION) {
            for (size_t i = 0; i < d; i++) {
                ma += a[i] / (double)d;
                mb += b[i] / (double)d;
            }
        }
        for (size_t i = 0; i < d; i++) {
            ab += (a[i] - ma) * (b[i] - mb);
            aa += (a[i] - ma) * (a[i] - ma);
            bb += (b[i] - mb) * (b[i] - mb);
        }
        if (aa < 1e-20 || bb < 1e-20) {
            return (aa < 1e-20 && bb < 1e-20) ? 0.0 : 1.0;
        }
        return 1.0 - ab / sqrt(aa * bb);
    }
    case UMAPC_METRIC_DOT:
        ab = ref_dot(a, b, d);
        return ab <= 0 ? 1.0 : 1.0 - ab;
    case UMAPC_METRIC_INNER_PRODUCT:
        return -ref_dot(a, b, d);
    case UMAPC_METRIC_CANBERRA:
        for (size_t i = 0; i < d; i++) {
            den = fabs((double)a[i]) + fabs((double)b[i]);
            num += den > 0 ? fabs((double)a[i] - b[i]) / den : 0.0;
        }
        return num;
    case UMAPC_METRIC_BRAYCURTIS:
        for (size_t i = 0; i < d; i++) {
            num += fabs((double)a[i] - b[i]);
            den += fabs((double)a[i] + b[i]);
        }
        return den > 0 ? num / den : 0.0;
    case UMAPC_METRIC_HAMMING:
        for (size_t i = 0; i < d; i++) {
            cnt += a[i] != b[i];
        }
        return (double)cnt / (double)d;
    case UMAPC_METRIC_JACCARD:
        for (size_t i = 0; i < d; i++) {
            cnt += (a[i] != 0) || (b[i] != 0);
            cnt2 += (a[i] != 0) != (b[i] != 0);
        }
        return cnt ? (double)cnt2 / (double)cnt : 0.0;
    case UMAPC_METRIC_HELLINGER:
        for (size_t i = 0; i < d; i++) {
            ab += sqrt((double)a[i] * b[i]);
            aa += a[i];
            bb += b[i];
        }
        if (aa == 0 || bb == 0) {
            return (aa == 0 && bb == 0) ? 0.0 : 1.0;
        }
        return sqrt(fmax(0.0, 1.0 - ab / sqrt(aa * bb)));
    default:
        break;
    }
    return NAN;
}

#define N_ROWS 24

/* Rows with the awkward cases mixed in: zero rows, constant rows, exact duplicates, and for the
 * set metrics binary rows. */
static void make_rows(umapc_rng *rng, umapc_metric_kind kind, float *x, size_t dim) {
    fill_normal(rng, x, N_ROWS * dim);
    int binary = kind == UMAPC_METRIC_HAMMING || kind == UMAPC_METRIC_JACCARD;
    int positive = kind == UMAPC_METRIC_HELLINGER || kind == UMAPC_METRIC_CANBERRA ||
                   kind == UMAPC_METRIC_BRAYCURTIS;
    for (size_t i = 0; i < N_ROWS * dim; i++) {
        if (binary) {
            x[i] = x[i] > 0.3f ? 1.0f : 0.0f;
        } else if (positive) {
            x[i] = fabsf(x[i]) * (x[i] > -0.5f);
        }
    }
    if (kind == UMAPC_METRIC_DOT) {
        for (size_t r = 0; r < N_ROWS; r++) {
            double n = sqrt(ref_dot(x + r * dim, x + r * dim, dim));
            for (size_t i = 0; i < dim; i++) {
                x[r * dim + i] = (float)(x[r * dim + i] / (n > 0 ? n : 1));
            }
        }
    }
    memset(x, 0, 2 * dim * sizeof(float)); /* rows 0 and 1 zero */
    for (size_t i = 0; i < dim; i++) {
        x[2 * dim + i] = 0.75f; /* row 2 constant */
    }
    memcpy(x + 4 * dim, x + 3 * dim, dim * sizeof(float)); /* row 4 duplicates row 3 */
}

/* Tolerance in absolute terms: fp32 rounding of the result, plus the cancellation in 1 - cos on
 * rows whose distance is near 0. */
static double tolerance(double ref) {
    return 2e-5 * fabs(ref) + 2e-5;
}

static void check_metric(const umapc_metric *m, size_t dim, umapc_rng *rng) {
    float *x = malloc(N_ROWS * dim * sizeof(float));
    float *prep = malloc(N_ROWS * dim * sizeof(float));
    float *pair = malloc(N_ROWS * N_ROWS * sizeof(float));
    float *surr = malloc(N_ROWS * N_ROWS * sizeof(float));
    make_rows(rng, m->kind, x, dim);
    metric_plan plan;
    metric_plan_init(&plan, m);
    metric_space exact, plain;
    metric_space_init(&exact, m, dim, METRIC_SPACE_ANGULAR_EXACT);
    metric_space_init(&plain, m, dim, METRIC_SPACE_ANGULAR_PLAIN);
    int angular = m->kind == UMAPC_METRIC_COSINE || m->kind == UMAPC_METRIC_CORRELATION ||
                  m->kind == UMAPC_METRIC_HELLINGER;
    for (size_t r = 0; r < N_ROWS; r++) {
        metric_prepare_row(&plan, x + r * dim, prep + r * dim, dim);
    }
    CHECK(umapc_pairwise_distances(m, x, N_ROWS, x, N_ROWS, dim, pair, &(umapc_run_options){2},
                                   NULL) == UMAPC_OK);
    int bad = check_failures;
    for (size_t i = 0; i < N_ROWS; i++) {
        for (size_t j = 0; j < N_ROWS; j++) {
            const float *a = x + i * dim, *b = x + j * dim;
            double ref = ref_distance(m, a, b, dim);
            float s = metric_surrogate(&plan, prep + i * dim, prep + j * dim, dim);
            surr[i * N_ROWS + j] = s;
            /* the searches' spaces give the surrogate itself, bit for bit (their graphs must not
             * depend on which one measured), but for the plain angular 1 - <a,b> */
            const float *pa = prep + i * dim, *pb = prep + j * dim;
            CHECK(metric_space_dist(&exact, pa, pb) == s);
            CHECK(metric_space_dist(&plain, pa, pb) ==
                  (angular ? 1.0f - plan.kernels->dot(pa, pb, dim) : s));
            CHECK_CLOSE(umapc_distance(m, a, b, dim), ref, 0.0, tolerance(ref));
            CHECK_CLOSE(metric_surrogate_to_distance(&plan, s), ref, 0.0, tolerance(ref));
            CHECK_CLOSE(pair[i * N_ROWS + j], ref, 0.0, tolerance(ref));
        }
    }
    /* Ordering: whenever the surrogate says a pair is strictly closer, the true distance must not
     * say it is farther (beyond rounding). */
    for (size_t p = 0; p < N_ROWS * N_ROWS; p++) {
        for (size_t q = 0; q < N_ROWS * N_ROWS; q += 7) {
            if (surr[p] < surr[q]) {
                double dp = ref_distance(m, x + (p / N_ROWS) * dim, x + (p % N_ROWS) * dim, dim);
                double dq = ref_distance(m, x + (q / N_ROWS) * dim, x + (q % N_ROWS) * dim, dim);
                CHECK(dp <= dq + tolerance(dq));
            }
        }
    }
    if (check_failures != bad) {
        fprintf(stderr, "  ... metric %s p=%g dim=%zu\n", umapc_metric_name(m->kind), m->p, dim);
    }
    free(x);
    free(prep);
    free(pair);
    free(surr);
}

static void test_metrics_and_surrogate(void) {
    umapc_rng rng;
    umapc_rng_seed(&rng, 7);
    const size_t dims[] = {1, 3, 16, 17, 33, 100, 129};
    for (int k = 0; k <= UMAPC_METRIC_INNER_PRODUCT; k++) { /* test_extra_metrics: the others */
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            umapc_metric m;
            umapc_metric_init(&m);
            m.kind = (umapc_metric_kind)k;
            if (m.kind == UMAPC_METRIC_CORRELATION && dims[d] == 1) {
                continue; /* every 1-D row is constant */
            }
            const double ps[] = {0.5, 1.0, 1.5, 2.0, 3.0};
            size_t np = m.kind == UMAPC_METRIC_MINKOWSKI ? 5 : 1;
            for (size_t i = 0; i < np; i++) {
                m.p = m.kind == UMAPC_METRIC_MINKOWSKI ? ps[i] : 2.0;
                check_metric(&m, dims[d], &rng);
            }
        }
    }
}

/* Zero and constant rows follow pynndescent where scipy would give NaN. */
static void test_degenerate_rows(void) {
    float z[5] = {0}, c[5] = {2, 2, 2, 2, 2}, v[5] = {1, 0, 3, 0, 2};
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = UMAPC_METRIC_COSINE;
    CHECK(umapc_distance(&m, z, z, 5) == 0.0f && umapc_distance(&m, z, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_CORRELATION;
    CHECK(umapc_distance(&m, c, z, 5) == 0.0f && umapc_distance(&m, c, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_BRAYCURTIS;
    CHECK(umapc_distance(&m, z, z, 5) == 0.0f && umapc_distance(&m, z, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_HELLINGER;
    CHECK(umapc_distance(&m, z, z, 5) == 0.0f && umapc_distance(&m, z, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_JACCARD;
    CHECK(umapc_distance(&m, z, z, 5) == 0.0f && umapc_distance(&m, z, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_DOT;
    CHECK(umapc_distance(&m, z, v, 5) == 1.0f);
    m.kind = UMAPC_METRIC_CANBERRA;
    CHECK(umapc_distance(&m, z, z, 5) == 0.0f && umapc_distance(&m, z, v, 5) == 3.0f);
}

/* Large matrix, all threads, rectangular, y != x: every entry equals the single-pair distance. */
static void test_pairwise_threads(void) {
    const size_t nx = 37, ny = 53, dim = 41;
    float *x = malloc(nx * dim * sizeof(float)), *y = malloc(ny * dim * sizeof(float));
    float *out = malloc(nx * ny * sizeof(float));
    umapc_rng rng;
    umapc_rng_seed(&rng, 3);
    fill_normal(&rng, x, nx * dim);
    fill_normal(&rng, y, ny * dim);
    const umapc_metric_kind kinds[] = {UMAPC_METRIC_EUCLIDEAN, UMAPC_METRIC_COSINE,
                                       UMAPC_METRIC_CORRELATION, UMAPC_METRIC_CHEBYSHEV};
    for (size_t k = 0; k < 4; k++) {
        umapc_metric m;
        umapc_metric_init(&m);
        m.kind = kinds[k];
        CHECK(umapc_pairwise_distances(&m, x, nx, y, ny, dim, out, &(umapc_run_options){-1},
                                       NULL) == UMAPC_OK);
        for (size_t i = 0; i < nx; i++) {
            for (size_t j = 0; j < ny; j++) {
                double ref = ref_distance(&m, x + i * dim, y + j * dim, dim);
                CHECK_CLOSE(out[i * ny + j], ref, 0.0, tolerance(ref));
            }
        }
    }
    umapc_metric m;
    umapc_metric_init(&m);
    CHECK(umapc_pairwise_distances(&m, x, 0, y, ny, dim, out, &(umapc_run_options){1}, NULL) ==
          UMAPC_OK);
    CHECK(umapc_pairwise_distances(&m, x, nx, y, ny, 0, out, &(umapc_run_options){1}, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_pairwise_distances(&m, x, nx, NULL, ny, dim, out, &(umapc_run_options){1}, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    free(x);
    free(y);
    free(out);
}

/* inverse_transform's step at every level: the moved x equals the scalar table's bit for bit (the
 * same float operations in every lane, coefficients large enough that the clip at +-4 takes some
 * coordinates), and the fused variant's sum is the moved x's squared distance to the next row. */
static void test_move_kernels(void) {
    umapc_rng rng;
    umapc_rng_seed(&rng, 5);
    const simd_kernels *ref = simd_kernels_at(UMAPC_LEVEL_SCALAR);
    float x0[MAX_DIM], y[MAX_DIM], next[MAX_DIM], want[MAX_DIM], got[MAX_DIM], fused[MAX_DIM];
    for (size_t dim = 1; dim <= MAX_DIM; dim += 7) {
        fill_normal(&rng, x0, dim);
        fill_normal(&rng, y, dim);
        fill_normal(&rng, next, dim);
        float sx = 0.7f, sy = 1.3f, coeff = 3.0f, alpha = 0.25f;
        memcpy(want, x0, dim * sizeof *x0);
        ref->move_clipped(want, y, dim, sx, sy, coeff, alpha);
        for (int l = 0; l < N_LEVELS; l++) {
            const simd_kernels *k = simd_kernels_at((umapc_level)l);
            if (k == NULL) {
                continue;
            }
            memcpy(got, x0, dim * sizeof *x0);
            memcpy(fused, x0, dim * sizeof *x0);
            k->move_clipped(got, y, dim, sx, sy, coeff, alpha);
            float sum = k->move_clipped_sqeuclidean(fused, y, dim, sx, sy, coeff, alpha, next);
            CHECK(memcmp(got, want, dim * sizeof *got) == 0);
            CHECK(memcmp(fused, want, dim * sizeof *got) == 0);
            double r = ref_sqeuclidean(want, next, dim);
            CHECK_CLOSE(sum, r, 1e-6, 4e-7 * (double)dim * r + 1e-6);
        }
    }
}

/* The unclipped euclidean step: bit for bit the scalar table's at every level, with and without
 * the next row, and within rounding of move_clipped's euclidean step (sx = sy) where no
 * coordinate reaches the clip, which is when inverse_transform takes it. */
static void test_move_unclipped(void) {
    umapc_rng rng;
    umapc_rng_seed(&rng, 6);
    const simd_kernels *ref = simd_kernels_at(UMAPC_LEVEL_SCALAR);
    float x0[MAX_DIM], y[MAX_DIM], next[MAX_DIM], want[MAX_DIM], clipped[MAX_DIM];
    float got[MAX_DIM], alone[MAX_DIM];
    for (size_t dim = 1; dim <= MAX_DIM; dim += 5) {
        fill_normal(&rng, x0, dim);
        fill_normal(&rng, y, dim);
        fill_normal(&rng, next, dim);
        float sx = 0.3f, coeff = -2.5f, alpha = 0.25f; /* |coeff sx (x - y)| stays below 4 */
        memcpy(want, x0, dim * sizeof *x0);
        CHECK(isnan(ref->move_sqeuclidean(want, y, dim, alpha * coeff * sx, NULL)));
        memcpy(clipped, x0, dim * sizeof *x0);
        ref->move_clipped(clipped, y, dim, sx, sx, coeff, alpha);
        for (size_t d = 0; d < dim; d++) {
            CHECK_CLOSE(want[d], clipped[d], 1e-6, 1e-6);
        }
        for (int l = 0; l < N_LEVELS; l++) {
            const simd_kernels *k = simd_kernels_at((umapc_level)l);
            if (k == NULL) {
                continue;
            }
            memcpy(got, x0, dim * sizeof *x0);
            memcpy(alone, x0, dim * sizeof *x0);
            float sum = k->move_sqeuclidean(got, y, dim, alpha * coeff * sx, next);
            CHECK(isnan(k->move_sqeuclidean(alone, y, dim, alpha * coeff * sx, NULL)));
            CHECK(memcmp(got, want, dim * sizeof *got) == 0);
            CHECK(memcmp(alone, want, dim * sizeof *got) == 0);
            double r = ref_sqeuclidean(want, next, dim);
            CHECK_CLOSE(sum, r, 1e-6, 4e-7 * (double)dim * r + 1e-6);
        }
    }
}

static float dist_of(umapc_metric_kind kind, const float *a, const float *b, size_t dim) {
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = kind;
    return umapc_distance(&m, a, b, dim);
}

static int near(double got, double want) {
    return fabs(got - want) <= 1e-5 * fabs(want) + 1e-6;
}

/* Values by hand from pynndescent's (umap-learn's) definitions; tests/python/test_metrics_all.py
 * compares every metric with those functions on random data. */
static void test_extra_values(void) {
    const double pi = 3.14159265358979323846;
    float a[4] = {1, 0, 2, 0}, b[4] = {1, 1, 0, 0};
    /* tt = 1, tf = 1, ft = 1, ff = 1 */
    CHECK(near(dist_of(UMAPC_METRIC_DICE, a, b, 4), 2.0 / 4.0));
    CHECK(near(dist_of(UMAPC_METRIC_KULSINSKI, a, b, 4), (2.0 - 1.0 + 4.0) / 6.0));
    CHECK(near(dist_of(UMAPC_METRIC_MATCHING, a, b, 4), 0.5));
    CHECK(near(dist_of(UMAPC_METRIC_ROGERSTANIMOTO, a, b, 4), 4.0 / 6.0));
    CHECK(near(dist_of(UMAPC_METRIC_SOKALMICHENER, a, b, 4), 4.0 / 6.0));
    CHECK(near(dist_of(UMAPC_METRIC_RUSSELLRAO, a, b, 4), 3.0 / 4.0));
    CHECK(near(dist_of(UMAPC_METRIC_SOKALSNEATH, a, b, 4), 2.0 / 2.5));
    CHECK(near(dist_of(UMAPC_METRIC_YULE, a, b, 4), 2.0 / 2.0));
    CHECK(dist_of(UMAPC_METRIC_RUSSELLRAO, a, a, 4) == 0.0f);
    float z[2] = {0, 0}, n[2] = {0, (float)(pi / 2)};
    CHECK(near(dist_of(UMAPC_METRIC_HAVERSINE, z, n, 2), pi / 2));
    float up[4] = {1, 2, 3, 4}, down[4] = {4, 3, 2, 1};
    CHECK(near(dist_of(UMAPC_METRIC_SPEARMANR, up, down, 4), 2.0));
    CHECK(near(dist_of(UMAPC_METRIC_SPEARMANR, up, b, 4), 1.0 + 4.0 / sqrt(5.0 * 4.0)));
    CHECK(near(dist_of(UMAPC_METRIC_TRUE_ANGULAR, up, up, 4), 1.0));
    CHECK(dist_of(UMAPC_METRIC_TRUE_ANGULAR, up, z, 2) == FLT_MAX);
    float p1[2] = {1, 0}, p2[2] = {0, 1};
    umapc_metric m;
    umapc_metric_init(&m);
    m.kind = UMAPC_METRIC_WASSERSTEIN_1D;
    m.p = 1.0;
    CHECK(near(umapc_distance(&m, p1, p2, 2), 1.0));
    CHECK(near(dist_of(UMAPC_METRIC_JENSEN_SHANNON, up, up, 4), 0.0));
    CHECK(near(dist_of(UMAPC_METRIC_SYMMETRIC_KL, up, up, 4), 0.0));
    float bits_a[2] = {255, 15}, bits_b[2] = {15, 15};
    CHECK(dist_of(UMAPC_METRIC_BIT_HAMMING, bits_a, bits_b, 2) == 4.0f);
    CHECK(near(dist_of(UMAPC_METRIC_BIT_JACCARD, bits_a, bits_b, 2), -log(8.0 / 12.0)));
    CHECK(dist_of(UMAPC_METRIC_BIT_JACCARD, bits_a, z, 2) == INFINITY);
    float ball_a[2] = {0.5f, 0}, ball_b[2] = {0, 0};
    CHECK(near(dist_of(UMAPC_METRIC_POINCARE, ball_a, ball_b, 2), acosh(1.0 + 2.0 * 0.25 / 0.75)));
    /* parameterised: V = 4 halves euclidean, VI = I and w = 1 are euclidean */
    float four[4] = {4, 4, 4, 4}, ones[4] = {1, 1, 1, 1};
    float eye[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    double euclid = sqrt(9.0 + 1.0 + 1.0 + 9.0);
    m.kind = UMAPC_METRIC_SEUCLIDEAN;
    m.params = four;
    m.n_params = 4;
    CHECK(umapc_metric_validate_dim(&m, 4, NULL) == UMAPC_OK);
    CHECK(near(umapc_distance(&m, up, down, 4), euclid / 2.0));
    m.kind = UMAPC_METRIC_WMINKOWSKI;
    m.params = ones;
    m.p = 2.0;
    CHECK(near(umapc_distance(&m, up, down, 4), euclid));
    m.kind = UMAPC_METRIC_MAHALANOBIS;
    m.params = eye;
    m.n_params = 16;
    CHECK(near(umapc_distance(&m, up, down, 4), euclid));
}

/* Parameters that do not fit fail with a message naming them; no call reads past them. */
static void test_extra_validation(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    umapc_error err = {0};
    float v[3] = {1, 1, 1}, zero[3] = {1, 0, 1}, x[6] = {0};
    m.kind = UMAPC_METRIC_SEUCLIDEAN;
    CHECK(umapc_metric_validate(&m, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "needs its parameter V") != NULL);
    m.params = v;
    m.n_params = 3;
    CHECK(umapc_metric_validate_dim(&m, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "length 2") != NULL);
    float out[4];
    CHECK(umapc_pairwise_distances(&m, x, 3, x, 3, 2, out, NULL, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    umapc_idx idx[4];
    CHECK(umapc_exact_knn_graph(&m, x, 3, 2, 2, NULL, NULL, idx, out, NULL) ==
          UMAPC_ERR_INVALID_ARGUMENT);
    m.params = zero;
    CHECK(umapc_metric_validate_dim(&m, 3, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "V > 0") != NULL);
    m.kind = UMAPC_METRIC_MAHALANOBIS;
    m.params = v;
    CHECK(umapc_metric_validate_dim(&m, 3, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "(3, 3)") != NULL);
    m.kind = UMAPC_METRIC_EUCLIDEAN; /* a metric without parameters refuses them */
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    umapc_metric_init(&m);
    m.kind = UMAPC_METRIC_HAVERSINE;
    CHECK(umapc_metric_validate_dim(&m, 3, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "2 dimensional") != NULL);
    m.kind = UMAPC_METRIC_CIRCULAR_KANTOROVICH;
    m.p = 1.5;
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    m.p = 3.0;
    CHECK(umapc_metric_validate(&m, NULL) == UMAPC_OK);
    float neg[4] = {1, -1, 1, 1};
    m.kind = UMAPC_METRIC_JENSEN_SHANNON;
    CHECK(umapc_metric_check_data(&m, neg, 2, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "nonnegative") != NULL);
    m.kind = UMAPC_METRIC_WASSERSTEIN_1D;
    m.p = 1.0;
    CHECK(umapc_metric_check_data(&m, x, 3, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "positive sum") != NULL);
    m.kind = UMAPC_METRIC_POINCARE;
    float outside[2] = {0.8f, 0.7f};
    CHECK(umapc_metric_check_data(&m, outside, 1, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    float half_byte[2] = {0.5f, 3};
    m.kind = UMAPC_METRIC_BIT_HAMMING;
    CHECK(umapc_metric_check_data(&m, half_byte, 1, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
}

/* An index of a parameterised metric keeps its own copy and writes it to its file. */
static void test_extra_index_roundtrip(void) {
    enum { N = 64, D = 3 };
    float data[N * D], vi[D * D] = {2, 0.5f, 0, 0.5f, 1, 0, 0, 0, 3};
    for (size_t i = 0; i < N * D; i++) {
        data[i] = (float)((i * 7919u) % 101u) / 50.0f;
    }
    for (int backend = UMAPC_BACKEND_EXACT; backend <= UMAPC_BACKEND_HNSW; backend++) {
        umapc_metric m;
        umapc_metric_init(&m);
        m.kind = UMAPC_METRIC_MAHALANOBIS;
        float *params = malloc(sizeof vi);
        memcpy(params, vi, sizeof vi);
        m.params = params;
        m.n_params = D * D;
        umapc_index_options opts;
        umapc_index_options_init(&opts);
        opts.backend = (umapc_backend)backend;
        umapc_index *index = NULL;
        CHECK(umapc_index_create(&m, data, N, D, &opts, NULL, &index, NULL) == UMAPC_OK);
        memset(params, 0xFF, sizeof vi); /* the caller's array may go: the index has a copy */
        free(params);
        uint8_t *bytes = NULL;
        size_t size = 0;
        umapc_blob none = {NULL, 0};
        CHECK(umapc_index_serialize(index, none, &bytes, &size, NULL) == UMAPC_OK);
        umapc_index *back = NULL;
        uint8_t *meta = NULL;
        size_t meta_size = 0;
        CHECK(umapc_index_deserialize(bytes, size, &back, &meta, &meta_size, NULL) == UMAPC_OK);
        umapc_metric stored = umapc_index_metric(back);
        CHECK(stored.n_params == D * D && memcmp(stored.params, vi, sizeof vi) == 0);
        umapc_idx i1[4], i2[4];
        float d1[4], d2[4];
        CHECK(umapc_index_query(index, data, 1, 4, NULL, NULL, i1, d1, NULL) == UMAPC_OK);
        CHECK(umapc_index_query(back, data, 1, 4, NULL, NULL, i2, d2, NULL) == UMAPC_OK);
        CHECK(memcmp(i1, i2, sizeof i1) == 0 && memcmp(d1, d2, sizeof d1) == 0);
        bytes[64] ^= 1; /* VI lies under the checksum */
        umapc_index *bad = NULL;
        CHECK(umapc_index_deserialize(bytes, size, &bad, &meta, &meta_size, NULL) ==
              UMAPC_ERR_CORRUPT);
        umapc_free(bytes);
        umapc_free(meta);
        umapc_index_free(back);
        umapc_index_free(index);
    }
}

/* Transport between three bins on a line (cost |i - j|): the exact cost is the 1-d Wasserstein
 * distance, which the CDFs give; Sinkhorn's plan pays at least that and approaches it as the
 * regularization shrinks. */
static void test_transport(void) {
    enum { D = 3 };
    float params[D * D + 1];
    for (int i = 0; i < D; i++) {
        for (int j = 0; j < D; j++) {
            params[i * D + j] = (float)abs(i - j);
        }
    }
    const float rows[4][D] = {{1, 0, 0}, {0, 0, 2}, {1, 1, 1}, {0, 3, 1}};
    umapc_metric exact, sinkhorn, w1;
    umapc_metric_init(&exact);
    exact.kind = UMAPC_METRIC_KANTOROVICH;
    exact.params = params;
    exact.n_params = D * D + 1;
    params[D * D] = 100000.0f;
    umapc_metric_init(&w1);
    w1.kind = UMAPC_METRIC_WASSERSTEIN_1D;
    w1.p = 1.0;
    CHECK(umapc_metric_check_data(&exact, rows[0], 4, D, NULL) == UMAPC_OK);
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++) {
            float want = umapc_distance(&w1, rows[a], rows[b], D);
            CHECK(fabsf(umapc_distance(&exact, rows[a], rows[b], D) - want) < 1e-6f);
        }
    }
    float sparse_params[D * D + 1];
    memcpy(sparse_params, params, sizeof params);
    sinkhorn = exact;
    sinkhorn.kind = UMAPC_METRIC_SINKHORN;
    sinkhorn.params = sparse_params;
    const float regs[] = {1.0f, 0.05f};
    for (int r = 0; r < 2; r++) {
        sparse_params[D * D] = regs[r];
        float got = umapc_distance(&sinkhorn, rows[2], rows[3], D);
        float want = umapc_distance(&w1, rows[2], rows[3], D);
        CHECK(got >= want - 1e-6f && (r == 0 || got - want < 0.02f));
    }
    /* max_iter 1: one pivot from the north-west corner plan, still a plan of the right mass */
    params[D * D] = 1.0f;
    float capped = umapc_distance(&exact, rows[2], rows[3], D);
    CHECK(capped >= umapc_distance(&w1, rows[2], rows[3], D) - 1e-6f && capped <= 2.0f);

    umapc_error err = {0};
    params[D * D] = 0.5f; /* not an integer */
    CHECK(umapc_metric_validate(&exact, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "max_iter") != NULL);
    params[D * D] = 10.0f;
    params[1] = -1.0f;
    CHECK(umapc_metric_validate_dim(&exact, D, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "cost[0, 1]") != NULL);
    params[1] = NAN;
    CHECK(umapc_metric_validate(&exact, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    params[1] = 1.0f;
    CHECK(umapc_metric_validate_dim(&exact, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "shape (2, 2)") != NULL);
    sparse_params[D * D] = 0.0f;
    CHECK(umapc_metric_validate(&sinkhorn, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    const float zero_row[2 * D] = {1, 0, 0, 0, 0, 0}, negative_row[D] = {1, -1, 1};
    CHECK(umapc_metric_check_data(&exact, zero_row, 2, D, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_metric_check_data(&exact, negative_row, 1, D, &err) == UMAPC_ERR_INVALID_ARGUMENT);
}

/* umap-learn's discrete metrics on one value per row. */
static void test_labels(void) {
    umapc_metric m;
    umapc_metric_init(&m);
    const float a = 3.0f, b = 7.0f;
    m.kind = UMAPC_METRIC_CATEGORICAL;
    CHECK(umapc_distance(&m, &a, &a, 1) == 0.0f && umapc_distance(&m, &a, &b, 1) == 1.0f);
    const float two[2] = {1, 2};
    umapc_error err = {0};
    CHECK(umapc_metric_check_data(&m, two, 1, 2, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "one value per row") != NULL);
    float support = 2.0f;
    m.kind = UMAPC_METRIC_ORDINAL;
    m.params = &support;
    m.n_params = 1;
    CHECK(umapc_distance(&m, &a, &b, 1) == 2.0f);
    support = 0.0f;
    CHECK(umapc_metric_validate(&m, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    /* count: with lambda 1 each step k adds -1 - log((lo - 1)!) (umap-learn's running sum) */
    float count_params[2] = {1.0f, 1.0f};
    m.kind = UMAPC_METRIC_POISSON_COUNT;
    m.params = count_params;
    m.n_params = 2;
    const float c2 = 2.0f, c4 = 4.0f;
    /* lo = 2: log_k_factorial starts at 0, then k = 2 adds -1, k = 3 adds -1 - log 2 */
    CHECK(fabsf(umapc_distance(&m, &c2, &c4, 1) - (float)(-2.0 - log(2.0))) < 1e-6f);
    CHECK(umapc_distance(&m, &c4, &c2, 1) == umapc_distance(&m, &c2, &c4, 1));
    const float huge = 1e7f, negative = -1.0f;
    CHECK(umapc_metric_check_data(&m, &huge, 1, 1, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_metric_check_data(&m, &negative, 1, 1, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    count_params[1] = 0.0f;
    CHECK(umapc_metric_validate(&m, &err) == UMAPC_ERR_INVALID_ARGUMENT);
}

/* A caller's metric: manhattan in double, counting its calls (from many threads at once). */
typedef struct counted {
    long calls;
} counted;

static float custom_manhattan(const float *a, const float *b, int64_t dim, void *ctx) {
    counted *c = ctx;
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
    return (float)ref_manhattan(a, b, (size_t)dim);
}

/* Overlap of two k-NN graphs' neighbour sets (columns 1..k-1), as a fraction. */
static double graph_overlap(const umapc_idx *x, const umapc_idx *y, size_t n, size_t k) {
    size_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t a = 1; a < k; a++) {
            for (size_t b = 1; b < k; b++) {
                hit += x[i * k + a] == y[i * k + b];
            }
        }
    }
    return (double)hit / (double)(n * (k - 1));
}

/* UMAPC_METRIC_CUSTOM through every search (exact, NN-descent, HNSW and the index) against the
 * built-in manhattan; a NULL function is refused and an index holding one cannot be saved. */
static void test_custom(void) {
    enum { N = 600, D = 7, K = 10 };
    umapc_rng rng;
    umapc_rng_seed(&rng, 5);
    float *data = malloc(N * D * sizeof *data);
    fill_normal(&rng, data, N * D);
    counted calls = {0};
    umapc_metric custom, manhattan;
    umapc_metric_init(&custom);
    umapc_metric_init(&manhattan);
    manhattan.kind = UMAPC_METRIC_MANHATTAN;
    custom.kind = UMAPC_METRIC_CUSTOM;
    umapc_error err = {0};
    CHECK(umapc_metric_validate(&custom, &err) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "function") != NULL);
    custom.fn = custom_manhattan;
    custom.ctx = &calls;
    CHECK(umapc_metric_validate_dim(&custom, D, NULL) == UMAPC_OK);
    CHECK(strcmp(umapc_metric_name(UMAPC_METRIC_CUSTOM), "custom") == 0);
    umapc_metric_kind parsed;
    CHECK(umapc_metric_parse("custom", &parsed, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    umapc_metric beyond = custom;
    beyond.kind = (umapc_metric_kind)(UMAPC_METRIC_CUSTOM + 1);
    CHECK(umapc_metric_validate(&beyond, NULL) == UMAPC_ERR_INVALID_ARGUMENT);
    CHECK(umapc_distance(&custom, data, data + D, D) ==
          custom_manhattan(data, data + D, D, &calls));

    umapc_idx *ref_i = malloc(N * K * sizeof *ref_i), *got_i = malloc(N * K * sizeof *got_i);
    float *ref_d = malloc(N * K * sizeof *ref_d), *got_d = malloc(N * K * sizeof *got_d);
    CHECK(umapc_exact_knn_graph(&manhattan, data, N, D, K, NULL, NULL, ref_i, ref_d, NULL) ==
          UMAPC_OK);
    calls.calls = 0;
    CHECK(umapc_exact_knn_graph(&custom, data, N, D, K, NULL, NULL, got_i, got_d, NULL) ==
          UMAPC_OK);
    CHECK(calls.calls >= (long)N * (N - 1) / 2);
    CHECK(graph_overlap(ref_i, got_i, N, K) == 1.0);
    for (size_t i = 0; i < N * K; i++) {
        CHECK_CLOSE(got_d[i], ref_d[i], 1e-5, 1e-5 * ref_d[i]);
    }
    umapc_nndescent_options nd;
    umapc_nndescent_options_init(&nd);
    nd.min_recall = 0.0; /* the search itself, not its exact fallback */
    calls.calls = 0;
    CHECK(umapc_nndescent_knn_graph(&custom, data, N, D, K, &nd, NULL, NULL, got_i, got_d, NULL) ==
          UMAPC_OK);
    CHECK(calls.calls > 0 && graph_overlap(ref_i, got_i, N, K) > 0.95);
    for (int backend = UMAPC_BACKEND_EXACT; backend <= UMAPC_BACKEND_HNSW; backend++) {
        umapc_index_options opts;
        umapc_index_options_init(&opts);
        opts.backend = (umapc_backend)backend;
        umapc_index *index = NULL;
        CHECK(umapc_index_create(&custom, data, N, D, &opts, NULL, &index, NULL) == UMAPC_OK);
        CHECK(umapc_index_knn_graph(index, K, NULL, NULL, got_i, got_d, NULL) == UMAPC_OK);
        CHECK(graph_overlap(ref_i, got_i, N, K) > 0.95);
        uint8_t *bytes = NULL;
        size_t size = 0;
        umapc_blob none = {NULL, 0};
        CHECK(umapc_index_serialize(index, none, &bytes, &size, &err) ==
              UMAPC_ERR_INVALID_ARGUMENT);
        CHECK(bytes == NULL && strstr(err.message, "custom metric") != NULL);
        CHECK(umapc_index_save(index, "/nonexistent-dir/x.idx", none, NULL) ==
              UMAPC_ERR_INVALID_ARGUMENT);
        umapc_index_free(index);
    }
    float *pair = malloc(4 * N * sizeof *pair);
    CHECK(umapc_pairwise_distances(&custom, data, 4, data, N, D, pair, NULL, NULL) == UMAPC_OK);
    for (size_t j = 0; j < N; j++) {
        CHECK_CLOSE(pair[N + j], ref_manhattan(data + D, data + j * D, D), 1e-5, 0.0);
    }
    free(pair);
    free(ref_i);
    free(got_i);
    free(ref_d);
    free(got_d);
    free(data);
}

int main(void) {
    test_simd_levels();
    test_no_overread();
    test_move_kernels();
    test_move_unclipped();
    test_names();
    test_validate();
    test_metrics_and_surrogate();
    test_degenerate_rows();
    test_pairwise_threads();
    test_extra_values();
    test_extra_validation();
    test_extra_index_roundtrip();
    test_transport();
    test_labels();
    test_custom();
    CHECK_DONE();
}
