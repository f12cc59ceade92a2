/* AVX-512 GEMM tile for exact search: 12 query rows x 32 data columns. 24 accumulators plus two B
 * vectors and one broadcast use 27 of the 32 zmm registers, so the inner loop never spills and
 * issues one 512-bit FMA per cycle (a Zen 4 core's two 256-bit pipes). */
#include "exact_kernels.h"

#include <immintrin.h>

#define MR 12
#define NR 32

#define ACC_DECL(r)                                                                                \
    __m512 c##r##_0 = _mm512_setzero_ps();                                                         \
    __m512 c##r##_1 = _mm512_setzero_ps()

#define ACC_FMA(r)                                                                                 \
    do {                                                                                           \
        const __m512 ar = _mm512_set1_ps(a[r]);                                                    \
        c##r##_0 = _mm512_fmadd_ps(ar, b0, c##r##_0);                                              \
        c##r##_1 = _mm512_fmadd_ps(ar, b1, c##r##_1);                                              \
    } while (0)

#define ACC_STORE(r)                                                                               \
    hits[r] = finish_row(c##r##_0, c##r##_1, args->row_norm[r], args->row_bound[r], &cols,         \
                         tile + (r)*NR)

typedef struct col_consts {
    __m512 norm0, norm1, slack0, slack1, clamp;
} col_consts;

static inline uint32_t finish_row(__m512 acc0, __m512 acc1, float row_norm, float row_bound,
                                  const col_consts *cols, float *out) {
    const __m512 minus_two = _mm512_set1_ps(-2.0f);
    const __m512 rn = _mm512_set1_ps(row_norm);
    const __m512 bound = _mm512_set1_ps(row_bound);
    __m512 v0 = _mm512_fmadd_ps(minus_two, acc0, _mm512_add_ps(rn, cols->norm0));
    __m512 v1 = _mm512_fmadd_ps(minus_two, acc1, _mm512_add_ps(rn, cols->norm1));
    v0 = _mm512_min_ps(v0, cols->clamp);
    v1 = _mm512_min_ps(v1, cols->clamp);
    _mm512_storeu_ps(out, v0);
    _mm512_storeu_ps(out + 16, v1);
    __mmask16 m0 = _mm512_cmp_ps_mask(_mm512_sub_ps(v0, cols->slack0), bound, _CMP_LE_OQ);
    __mmask16 m1 = _mm512_cmp_ps_mask(_mm512_sub_ps(v1, cols->slack1), bound, _CMP_LE_OQ);
    return (uint32_t)m0 | ((uint32_t)m1 << 16);
}

static void tile_avx512(size_t dim, const float *a, const float *b, const exact_tile_args *args,
                        float *tile, uint32_t *hits) {
    ACC_DECL(0);
    ACC_DECL(1);
    ACC_DECL(2);
    ACC_DECL(3);
    ACC_DECL(4);
    ACC_DECL(5);
    ACC_DECL(6);
    ACC_DECL(7);
    ACC_DECL(8);
    ACC_DECL(9);
    ACC_DECL(10);
    ACC_DECL(11);
    for (size_t k = 0; k < dim; k++) {
        const __m512 b0 = _mm512_load_ps(b);
        const __m512 b1 = _mm512_load_ps(b + 16);
        ACC_FMA(0);
        ACC_FMA(1);
        ACC_FMA(2);
        ACC_FMA(3);
        ACC_FMA(4);
        ACC_FMA(5);
        ACC_FMA(6);
        ACC_FMA(7);
        ACC_FMA(8);
        ACC_FMA(9);
        ACC_FMA(10);
        ACC_FMA(11);
        a += MR;
        b += NR;
    }
    const col_consts cols = {
        _mm512_loadu_ps(args->col_norm),  _mm512_loadu_ps(args->col_norm + 16),
        _mm512_loadu_ps(args->col_slack), _mm512_loadu_ps(args->col_slack + 16),
        _mm512_set1_ps(args->clamp_max),
    };
    ACC_STORE(0);
    ACC_STORE(1);
    ACC_STORE(2);
    ACC_STORE(3);
    ACC_STORE(4);
    ACC_STORE(5);
    ACC_STORE(6);
    ACC_STORE(7);
    ACC_STORE(8);
    ACC_STORE(9);
    ACC_STORE(10);
    ACC_STORE(11);
}

const exact_gemm_kernel exact_kernel_avx512_table = {tile_avx512, MR, NR, "avx512"};
