/* AVX-512 kernel of the 2-D layout SGD: one point per lane, 16 points at a time, each lane walking
 * its own point's ops (layout_kernels.h). A point's ops form a dependent chain (each starts where
 * the previous left the point), so putting one point's samples side by side leaves the core
 * waiting on that chain; sixteen independent chains side by side keep it busy, and a lane whose
 * point is done takes the block's next point. The ops themselves (which edges are sampled this
 * epoch) are listed by a vectorised scan of the schedules at the end of this file. */
#include "layout_kernels.h"

#include <immintrin.h>

/* x and y of the points v (zero in lanes outside m), each (x, y) one 64-bit element. */
static inline void gather_xy(const float *emb, __m512i v, __mmask16 m, __m512 *x, __m512 *y) {
    __m512d lo = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (__mmask8)m,
                                          _mm512_castsi512_si256(v), emb, 8);
    __m512d hi = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (__mmask8)(m >> 8),
                                          _mm512_extracti64x4_epi64(v, 1), emb, 8);
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *x = _mm512_permutex2var_ps(_mm512_castpd_ps(lo), even, _mm512_castpd_ps(hi));
    *y = _mm512_permutex2var_ps(_mm512_castpd_ps(lo), odd, _mm512_castpd_ps(hi));
}

static inline __m512 clip4(__m512 v) {
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
}

typedef struct lanes {
    __m512i slot, k, end; /* point (index in the block), its next op, its end */
    __m512 cx, cy;
    __mmask16 valid;
    int32_t next; /* block's next point not yet given to a lane */
} lanes;

static void write_out(const layout_block *blk, const lanes *l, __mmask16 done) {
    float x[16], y[16];
    int32_t slot[16];
    _mm512_storeu_ps(x, l->cx);
    _mm512_storeu_ps(y, l->cy);
    _mm512_storeu_si512(slot, l->slot);
    for (; done; done &= (__mmask16)(done - 1)) {
        int i = __builtin_ctz(done);
        size_t j = (size_t)(blk->lo + slot[i]);
        blk->self_out[2 * j] = x[i];
        blk->self_out[2 * j + 1] = y[i];
    }
}

/* Lowest `take` set bits of m. */
static inline __mmask16 first_bits(__mmask16 m, int take) {
    __mmask16 out = 0;
    for (int t = 0; t < take; t++) {
        out |= (__mmask16)(m & (-(int)m));
        m &= (__mmask16)(m - 1);
    }
    return out;
}

/* Writes out the points whose ops are done and gives their lanes the block's next points (points
 * without ops this epoch pass straight through). */
static void refill(const layout_block *blk, lanes *l) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 done = _mm512_mask_cmpeq_epi32_mask(l->valid, l->k, l->end);
    for (;;) {
        if (done) {
            write_out(blk, l, done);
            l->valid &= (__mmask16)~done;
        }
        __mmask16 free = (__mmask16)~l->valid;
        int left = blk->n - l->next;
        if (free == 0 || left <= 0) {
            return;
        }
        int n_free = __builtin_popcount(free);
        __mmask16 fill = first_bits(free, n_free < left ? n_free : left);
        l->slot = _mm512_mask_expand_epi32(l->slot, fill,
                                           _mm512_add_epi32(iota, _mm512_set1_epi32(l->next)));
        l->next += __builtin_popcount(fill);
        l->k = _mm512_mask_i32gather_epi32(l->k, fill, l->slot, blk->beg, 4);
        l->end = _mm512_mask_i32gather_epi32(
            l->end, fill, _mm512_add_epi32(l->slot, _mm512_set1_epi32(1)), blk->beg, 4);
        __m512 x, y;
        gather_xy(blk->self_in, _mm512_add_epi32(l->slot, _mm512_set1_epi32(blk->lo)), fill, &x,
                  &y);
        l->cx = _mm512_mask_mov_ps(l->cx, fill, x);
        l->cy = _mm512_mask_mov_ps(l->cy, fill, y);
        l->valid |= fill;
        done = _mm512_mask_cmpeq_epi32_mask(fill, l->k, l->end);
    }
}

/* Slots of a step evaluated side by side: a slot's gradient is a chain of ~150 cycles (gathers,
 * log2, exp2, division) and the core's schedulers hold about two such chains when they come one
 * after the other, so the slots are interleaved instruction by instruction. */
enum { U = 4 };

#define EACH _Pragma("GCC unroll 4") for (int u = 0; u < nu; u++)

/* Gradient coefficients for U slots: attraction -2ab d2^(b-1) / (a d2^b + 1) where attr[u], else
 * repulsion 2 gamma b / ((0.001 + d2)(a d2^b + 1)); d2 clamped away from 0 (such lanes are
 * dropped by the caller). */
static inline __attribute__((always_inline)) void
coeffs(const __m512 d2[U], const int attr[U], const layout_consts *c, __m512 out[U], const int nu) {
    __m512 x[U], t[U], p[U], e[U];
    EACH {
        x[u] = _mm512_max_ps(d2[u], _mm512_set1_ps(1e-30f));
        /* x = m 2^e, m in [1, 2) (x is a normal float here) */
        e[u] = _mm512_getexp_ps(x[u]);
        __m512 m = _mm512_getmant_ps(x[u], _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
        __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
        m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
        e[u] = _mm512_mask_add_ps(e[u], big, e[u], _mm512_set1_ps(1.0f));
        t[u] = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
        p[u] = _mm512_set1_ps(0.1706150621f);
    }
    /* log2(1 + t) = t P(t) on [sqrt(1/2) - 1, sqrt(2) - 1], absolute error 3e-7: a relative
     * error of d2^b of ~2e-7 */
    static const float lc[6] = {-0.2726692855f, 0.2972579896f,  -0.3589650095f,
                                0.4804655910f,  -0.7213757634f, 1.4426996708f};
    for (int i = 0; i < 6; i++) {
        EACH p[u] = _mm512_fmadd_ps(p[u], t[u], _mm512_set1_ps(lc[i]));
    }
    EACH {
        /* y = b log2(x), then 2^y = 2^r 2^f with r = round(y), |f| <= 1/2 */
        __m512 y = _mm512_mul_ps(_mm512_set1_ps(c->b), _mm512_fmadd_ps(t[u], p[u], e[u]));
        e[u] = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t[u] = _mm512_sub_ps(y, e[u]);
        p[u] = _mm512_set1_ps(1.3276658719e-03f);
    }
    /* 2^f on [-1/2, 1/2], relative error 2e-7 */
    static const float ec[5] = {9.675481357e-03f, 5.550711975e-02f, 2.402212024e-01f,
                                6.931469440e-01f, 1.000000119f};
    for (int i = 0; i < 5; i++) {
        EACH p[u] = _mm512_fmadd_ps(p[u], t[u], _mm512_set1_ps(ec[i]));
    }
    EACH {
        __m512 pw = _mm512_scalef_ps(p[u], e[u]);
        __m512 apw1 = _mm512_fmadd_ps(_mm512_set1_ps(c->a), pw, _mm512_set1_ps(1.0f));
        __m512 num =
            attr[u] ? _mm512_mul_ps(_mm512_set1_ps(c->attract), pw) : _mm512_set1_ps(c->repel);
        __m512 den =
            _mm512_mul_ps(attr[u] ? x[u] : _mm512_add_ps(x[u], _mm512_set1_ps(0.001f)), apw1);
        /* reciprocal to 14 bits, one Newton step: ~1e-8 relative, at a fraction of a division */
        __m512 r = _mm512_rcp14_ps(den);
        r = _mm512_mul_ps(r, _mm512_fnmadd_ps(den, r, _mm512_set1_ps(2.0f)));
        out[u] = _mm512_mul_ps(num, r);
    }
}

static inline __m512i mix64_epi64(__m512i x) {
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 30));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 27));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

/* The 32-bit key of each lane's negatives, from its 64-bit stream (lanes 0-7 and 8-15). */
static inline __m512i neg_keys(__m512i st_lo, __m512i st_hi) {
    st_lo = _mm512_xor_si512(st_lo, _mm512_srli_epi64(st_lo, 32));
    st_hi = _mm512_xor_si512(st_hi, _mm512_srli_epi64(st_hi, 32));
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_epi32(st_lo, even, st_hi);
}

/* Negative sample q of each lane: murmur3's 32-bit finaliser of key + q times the golden ratio,
 * scaled to [0, n_tail) by the high half of a 32 x 32-bit product (a counter-based stream, like
 * layout_negative, at half its work: it runs for every negative sample). */
static inline __m512i negatives(__m512i key, int q, __m512i n_tail) {
    __m512i x = _mm512_add_epi32(key, _mm512_set1_epi32((int)(0x9e3779b9u * (uint32_t)q)));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0x85ebca6bu));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 13));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0xc2b2ae35u));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(x, n_tail), 32);
    __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), n_tail);
    return _mm512_mask_blend_epi32((__mmask16)0xaaaa, even, odd);
}

/* Slots s0 .. s0+nu-1 of a step: slot 0 is the attraction, slot q >= 1 negative sample q. */
static inline __attribute__((always_inline)) void
chunk(const layout_block *blk, const lanes *l, __m512 *sx, __m512 *sy, __m512i other, __m512i n_neg,
      __m512i key, __m512i self, const layout_consts *c, int s0, const int nu) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i n_tail = _mm512_set1_epi32((int)blk->n_tail);
    const __m512 cx = l->cx, cy = l->cy;
    __mmask16 v = l->valid;
    __m512i idx[U];
    __mmask16 m[U];
    int attr[U];
    __m512 dx[U], dy[U], d2[U], coeff[U];
    EACH {
        int sl = s0 + u;
        attr[u] = sl == 0;
        if (attr[u]) {
            m[u] = _mm512_mask_cmpge_epi32_mask(v, other, zero);
            idx[u] = other;
        } else {
            m[u] = _mm512_mask_cmpge_epi32_mask(v, n_neg, _mm512_set1_epi32(sl));
            idx[u] = negatives(key, sl, n_tail);
            m[u] &= _mm512_cmpneq_epi32_mask(idx[u], self);
        }
    }
    EACH {
        __m512 ox, oy;
        gather_xy(blk->emb, idx[u], m[u], &ox, &oy);
        dx[u] = _mm512_sub_ps(cx, ox);
        dy[u] = _mm512_sub_ps(cy, oy);
        d2[u] = _mm512_fmadd_ps(dy[u], dy[u], _mm512_mul_ps(dx[u], dx[u]));
        m[u] &= _mm512_cmp_ps_mask(d2[u], _mm512_setzero_ps(), _CMP_GT_OQ);
    }
    coeffs(d2, attr, c, coeff, nu);
    for (int u = 0; u < nu; u++) {
        *sx = _mm512_mask_add_ps(*sx, m[u], *sx, clip4(_mm512_mul_ps(coeff[u], dx[u])));
        *sy = _mm512_mask_add_ps(*sy, m[u], *sy, clip4(_mm512_mul_ps(coeff[u], dy[u])));
    }
}

/* One op in every live lane: the attraction (slot 0, if any) and the negatives (slots 1..), all at
 * the lane's position, their clipped gradients summed in slot order, so a point's result does not
 * depend on its lane or on the other points of the block. */
static inline void step(const layout_block *blk, lanes *l, __m512i self, const layout_consts *c) {
    const __m512i zero = _mm512_setzero_si512();
    __mmask16 v = l->valid;
    __m512i other = _mm512_mask_i32gather_epi32(_mm512_set1_epi32(-1), v, l->k, blk->other, 4);
    __m512i n_neg = _mm512_mask_i32gather_epi32(zero, v, l->k, blk->n_neg, 4);
    int n_slots = _mm512_mask_reduce_max_epi32(v, n_neg) + 1;
    __m512i st_lo = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)v,
                                                _mm512_castsi512_si256(l->k), blk->stream, 8);
    __m512i st_hi = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), (__mmask8)(v >> 8),
                                                _mm512_extracti64x4_epi64(l->k, 1), blk->stream, 8);
    __m512i key = neg_keys(st_lo, st_hi);
    __m512 sx = _mm512_setzero_ps(), sy = _mm512_setzero_ps();
    for (int s0 = 0; s0 < n_slots;) {
        int left = n_slots - s0;
        int nu = left >= 4 ? 4 : left;
        if (nu == 4) {
            chunk(blk, l, &sx, &sy, other, n_neg, key, self, c, s0, 4);
        } else if (nu == 3) {
            chunk(blk, l, &sx, &sy, other, n_neg, key, self, c, s0, 3);
        } else if (nu == 2) {
            chunk(blk, l, &sx, &sy, other, n_neg, key, self, c, s0, 2);
        } else {
            chunk(blk, l, &sx, &sy, other, n_neg, key, self, c, s0, 1);
        }
        s0 += nu;
    }
    const __m512 alpha = _mm512_set1_ps(c->alpha);
    l->cx = _mm512_mask_mov_ps(l->cx, v, _mm512_fmadd_ps(alpha, sx, l->cx));
    l->cy = _mm512_mask_mov_ps(l->cy, v, _mm512_fmadd_ps(alpha, sy, l->cy));
    l->k = _mm512_mask_add_epi32(l->k, v, l->k, _mm512_set1_epi32(1));
}

void umapc_layout_block2_avx512(const layout_block *blk, const layout_consts *c) {
    lanes l = {_mm512_setzero_si512(),
               _mm512_setzero_si512(),
               _mm512_setzero_si512(),
               _mm512_setzero_ps(),
               _mm512_setzero_ps(),
               0,
               0};
    for (;;) {
        refill(blk, &l);
        if (l.valid == 0) {
            return;
        }
        __m512i self = blk->move_other ? _mm512_add_epi32(l.slot, _mm512_set1_epi32(blk->lo))
                                       : _mm512_set1_epi32(-1);
        step(blk, &l, self, c);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* op builder                                                                                  */

typedef struct op_out {
    umapc_idx *other;
    int32_t *n_neg;
    uint64_t *stream;
    int32_t k;
} op_out;

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* Appends the lanes `emit` of a chunk: compressed into the low lanes and stored whole (the
 * buffers have LAYOUT_OPS_SLACK spare entries). */
static inline void append(op_out *o, __mmask16 emit, __m512i other, __m512i n_neg, __m512i st_lo,
                          __m512i st_hi) {
    int k = o->k;
    _mm512_storeu_si512(o->other + k, _mm512_maskz_compress_epi32(emit, other));
    _mm512_storeu_si512(o->n_neg + k, _mm512_maskz_compress_epi32(emit, n_neg));
    __mmask8 el = (__mmask8)emit, eh = (__mmask8)(emit >> 8);
    _mm512_storeu_si512(o->stream + k, _mm512_maskz_compress_epi64(el, st_lo));
    int n_lo = __builtin_popcount(el);
    _mm512_storeu_si512(o->stream + k + n_lo, _mm512_maskz_compress_epi64(eh, st_hi));
    o->k = k + n_lo + __builtin_popcount(eh);
}

/* In-edges e0 .. e1-1 of a point: the sampled ones become pulls. */
static void in_ops(const layout_sched *s, op_out *o, int64_t e0, int64_t e1) {
    const __m512 now = _mm512_set1_ps(s->now);
    const __m512i z = _mm512_setzero_si512();
    for (int64_t e = e0; e < e1; e += 16) {
        __mmask16 live = tail_mask(e1 - e);
        __m512 nx = _mm512_maskz_loadu_ps(live, s->in_next + e);
        __mmask16 due = _mm512_mask_cmp_ps_mask(live, nx, now, _CMP_LE_OQ);
        __m512 ep = _mm512_maskz_loadu_ps(due, s->in_eps + e);
        _mm512_mask_storeu_ps(s->in_next + e, due, _mm512_add_ps(nx, ep));
        append(o, due, _mm512_maskz_loadu_epi32(due, s->in_idx + e), z, z, z);
    }
}

/* The first of edges e0 .. e1-1 (other ends ascending) whose other end is not before point j. */
static int64_t split_at(const umapc_idx *idx, int64_t e0, int64_t e1, int32_t j) {
    for (int64_t e = e0; e < e1; e += 16) {
        __mmask16 live = tail_mask(e1 - e);
        __m512i src = _mm512_maskz_loadu_epi32(live, idx + e);
        __mmask16 before = _mm512_mask_cmplt_epi32_mask(live, src, _mm512_set1_epi32(j));
        if (before != live) {
            return e + __builtin_popcount(before);
        }
    }
    return e1;
}

/* Out-edges e0 .. e1-1: the sampled ones (those due, or the lanes of due[] when given) become ops
 * with their negatives' count and stream. */
static void out_ops(const layout_sched *s, op_out *o, int64_t e0, int64_t e1,
                    const __mmask16 *due_in) {
    const __m512 now = _mm512_set1_ps(s->now);
    const __m512i key = _mm512_set1_epi64((long long)s->epoch_key);
    const __m512i mul = _mm512_set1_epi64((long long)0xd1b54a32d192ed03ULL);
    for (int64_t e = e0; e < e1; e += 16) {
        __mmask16 live = tail_mask(e1 - e);
        __m512 nx = _mm512_maskz_loadu_ps(live, s->next + e);
        __mmask16 due =
            due_in ? due_in[(e - e0) / 16] : _mm512_mask_cmp_ps_mask(live, nx, now, _CMP_LE_OQ);
        _mm512_mask_storeu_ps(s->next + e, due,
                              _mm512_add_ps(nx, _mm512_maskz_loadu_ps(due, s->eps + e)));
        /* umap-learn's count: int((epoch - next_neg) / eps_neg), if positive */
        __m512 nn = _mm512_maskz_loadu_ps(due, s->next_neg + e);
        __m512 en = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), due, s->eps_neg + e);
        __m512i cnt = _mm512_cvttps_epi32(_mm512_div_ps(_mm512_sub_ps(now, nn), en));
        __mmask16 pos = _mm512_mask_cmpgt_epi32_mask(due, cnt, _mm512_setzero_si512());
        cnt = _mm512_maskz_mov_epi32(pos, cnt);
        __m512 adv = _mm512_mul_ps(_mm512_cvtepi32_ps(cnt), en);
        _mm512_mask_storeu_ps(s->next_neg + e, pos, _mm512_add_ps(nn, adv));
        __m512i id_lo = _mm512_maskz_loadu_epi64((__mmask8)due, s->edge_id + e);
        __m512i id_hi = _mm512_maskz_loadu_epi64((__mmask8)(due >> 8), s->edge_id + e + 8);
        __m512i st_lo = mix64_epi64(_mm512_xor_si512(key, _mm512_mullo_epi64(id_lo, mul)));
        __m512i st_hi = mix64_epi64(_mm512_xor_si512(key, _mm512_mullo_epi64(id_hi, mul)));
        __m512i other = _mm512_maskz_loadu_epi32(due, s->out_idx + e);
        append(o, due, other, cnt, st_lo, st_hi);
    }
}

/* Pulls of the out-edges e0 .. e1-1 that are due (due[] per chunk from e0) and lie in
 * [from, to): on a symmetric graph an in-edge is sampled exactly when its twin out-edge is. */
static void twin_pulls(const layout_sched *s, op_out *o, int64_t e0, int64_t e1, int64_t from,
                       int64_t to, const __mmask16 *due) {
    const __m512i z = _mm512_setzero_si512();
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t e = e0 + (from - e0) / 16 * 16; e < to; e += 16) {
        __m512i pos = _mm512_add_epi32(iota, _mm512_set1_epi32((int32_t)(e - e0)));
        __mmask16 in = _mm512_cmpge_epi32_mask(pos, _mm512_set1_epi32((int32_t)(from - e0))) &
                       _mm512_cmplt_epi32_mask(pos, _mm512_set1_epi32((int32_t)(to - e0)));
        __mmask16 m = due[(e - e0) / 16] & in & tail_mask(e1 - e);
        append(o, m, _mm512_maskz_loadu_epi32(m, s->out_idx + e), z, z, z);
    }
}

enum { SYM_CHUNKS = 64 }; /* out-degree up to 1024 on the symmetric fast path */

/* Point j's ops on a symmetric graph: the due out-edges give both the samples and the pulls. */
static void sym_ops(const layout_sched *s, op_out *o, int32_t j) {
    int64_t e0 = s->out_ptr[j], e1 = s->out_ptr[j + 1];
    __mmask16 due[SYM_CHUNKS];
    const __m512 now = _mm512_set1_ps(s->now);
    for (int64_t e = e0; e < e1; e += 16) {
        __m512 nx = _mm512_maskz_loadu_ps(tail_mask(e1 - e), s->next + e);
        due[(e - e0) / 16] = _mm512_mask_cmp_ps_mask(tail_mask(e1 - e), nx, now, _CMP_LE_OQ);
    }
    int64_t split = split_at(s->out_idx, e0, e1, j);
    twin_pulls(s, o, e0, e1, e0, split, due);
    out_ops(s, o, e0, e1, due);
    twin_pulls(s, o, e0, e1, split, e1, due);
}

void umapc_layout_ops_avx512(const layout_sched *s, size_t lo, size_t hi, umapc_idx *other,
                             int32_t *n_neg, uint64_t *stream, int32_t *beg) {
    op_out o = {other, n_neg, stream, 0};
    for (size_t j = lo; j < hi; j++) {
        beg[j - lo] = o.k;
        if (s->symmetric && s->out_ptr[j + 1] - s->out_ptr[j] <= 16 * SYM_CHUNKS) {
            sym_ops(s, &o, (int32_t)j);
            continue;
        }
        /* umap-learn's order: pulls from earlier sources, own samples, the other pulls */
        int64_t split = 0;
        if (s->move_other) {
            split = split_at(s->in_idx, s->in_ptr[j], s->in_ptr[j + 1], (int32_t)j);
            in_ops(s, &o, s->in_ptr[j], split);
        }
        out_ops(s, &o, s->out_ptr[j], s->out_ptr[j + 1], NULL);
        if (s->move_other) {
            in_ops(s, &o, split, s->in_ptr[j + 1]);
        }
    }
    beg[hi - lo] = o.k;
}
