/* The 2-D layout executor with one point per SIMD lane, written once over a small vector vocabulary
 * that each instruction-set file defines before including this one (layout_avx512.c,
 * layout_avx2.c, layout_neon.c). A point's ops form a dependent chain (each starts where the
 * previous one left the point), so a point's ops side by side would leave the core waiting;
 * W independent chains side by side keep it busy, and a lane whose point is done takes the
 * block's next point.
 *
 * It evaluates exactly the expressions of exec_scalar in layout.c and layout_kernels.h (same
 * operations, same order, no fused multiply-add), so its results are bit-identical to the scalar
 * executor's.
 *
 * Vocabulary: W lanes; VF float vector, VI int32 vector, VM mask; VF_SET1 VI_SET1 VF_ADD VF_SUB
 * VF_MUL VF_DIV VF_MIN VF_MAX VF_GT VF_SEL(m, yes, no) VI_SEL VI_ADD VI_SUB VI_AND VI_OR VI_SRL
 * VI_SLL VI_GT VF_ROUND (to nearest even) VI_FROM_VF (truncating) VF_FROM_VI VF_AS_VI VI_AS_VF
 * VM_AND VM_BITS (lane i -> bit i) VI_LOAD VI_STORE VF_LOAD VF_STORE VI_GATHER(base, idx, m) (0
 * where !m) and GATHER_XY(emb, idx, m, &x, &y). */
#include "layout_kernels.h"

static inline VF lanes_horner(const float *coeff, int n, VF t) {
    VF p = VF_SET1(coeff[0]);
    for (int i = 1; i < n; i++) {
        p = VF_ADD(VF_MUL(p, t), VF_SET1(coeff[i]));
    }
    return p;
}

static inline VF lanes_log2(VF x) {
    VI xi = VF_AS_VI(x);
    VI e = VI_SUB(VI_AND(VI_SRL(xi, 23), VI_SET1(0xff)), VI_SET1(127));
    VF m = VI_AS_VF(VI_OR(VI_AND(xi, VI_SET1(0x007fffff)), VI_SET1(0x3f800000)));
    VM big = VF_GT(m, VF_SET1(1.41421356f));
    m = VF_SEL(big, VF_MUL(m, VF_SET1(0.5f)), m);
    e = VI_SEL(big, VI_ADD(e, VI_SET1(1)), e);
    VF t = VF_SUB(m, VF_SET1(1.0f));
    return VF_ADD(VF_FROM_VI(e), VF_MUL(t, lanes_horner(LAYOUT_LOG2_POLY, 9, t)));
}

static inline VF lanes_exp2(VF y) {
    y = VF_MIN(VF_MAX(y, VF_SET1(-126.0f)), VF_SET1(126.0f));
    VF r = VF_ROUND(y);
    VF scale = VI_AS_VF(VI_SLL(VI_ADD(VI_FROM_VF(r), VI_SET1(127)), 23));
    return VF_MUL(lanes_horner(LAYOUT_EXP2_POLY, 7, VF_SUB(y, r)), scale);
}

static inline VF lanes_clip(VF v) {
    return VF_MIN(VF_MAX(v, VF_SET1(-4.0f)), VF_SET1(4.0f));
}

/* Lane groups stepped side by side: one step of a group is a chain of ~150 cycles (gathers, log2,
 * exp2, division) and every step of a group waits for its previous one, so the groups are
 * interleaved operation by operation for the core to overlap their chains. */
#define U    4
#define EACH _Pragma("GCC unroll 4") for (int u = 0; u < U; u++)

/* Where each lane's point and op stand when the group is out of registers: the lane's point
 * (index in the block, -1 for none), its next op and its end (k == end without a point). */
typedef struct lanes_spill {
    int32_t point[W], k[W], end[W];
    float cx[W], cy[W];
} lanes_spill;

typedef struct lanes_state {
    lanes_spill g[U];
    int32_t next; /* the block's next point not yet given to a lane */
} lanes_state;

/* Writes out the points of the lanes in `done` and gives those lanes the next points; points
 * without ops this epoch pass straight through. Returns how many lanes lost their point for good.
 */
static int lanes_refill(const layout_block *blk, lanes_state *st, lanes_spill *s, unsigned done) {
    int idle = 0;
    for (; done; done &= done - 1) {
        int i = __builtin_ctz(done);
        if (s->point[i] >= 0) {
            size_t j = (size_t)(blk->lo + s->point[i]);
            blk->self_out[2 * j] = s->cx[i];
            blk->self_out[2 * j + 1] = s->cy[i];
            s->point[i] = -1;
        }
        while (st->next < blk->n) {
            int32_t pt = st->next++;
            size_t j = (size_t)(blk->lo + pt);
            if (blk->beg[pt] == blk->beg[pt + 1]) {
                blk->self_out[2 * j] = blk->self_in[2 * j];
                blk->self_out[2 * j + 1] = blk->self_in[2 * j + 1];
                continue;
            }
            s->point[i] = pt;
            s->k[i] = blk->beg[pt];
            s->end[i] = blk->beg[pt + 1];
            s->cx[i] = blk->self_in[2 * j];
            s->cy[i] = blk->self_in[2 * j + 1];
            break;
        }
        if (s->point[i] < 0) {
            s->k[i] = s->end[i] = 0;
            idle++;
        }
    }
    return idle;
}

/* The other point of each lane's op k: its index (with the attraction bit) and position. Loaded
 * one op ahead, since it does not depend on where the op leaves the point. */
typedef struct lanes_other {
    VI other;
    VF x, y;
} lanes_other;

static inline __attribute__((always_inline)) lanes_other lanes_fetch(const layout_block *blk, VI k,
                                                                     VM busy) {
    lanes_other o;
    o.other = VI_GATHER(blk->other, k, busy);
    GATHER_XY(blk->emb, VI_AND(o.other, VI_SET1(0x7fffffff)), busy, &o.x, &o.y);
    return o;
}

/* One op in every busy lane of every group; done[u] gets the lanes of group u whose point has no
 * op left, and nx[u] the other points of the next ops. */
static inline __attribute__((always_inline)) void lanes_step(const layout_block *blk,
                                                             const layout_consts *c, VI k[U],
                                                             const VI end[U], VF cx[U], VF cy[U],
                                                             lanes_other nx[U], unsigned done[U]) {
    VM busy[U], is_attract[U], live[U];
    VF dx[U], dy[U], d2[U], x[U], pw[U], apw1[U], coeff[U], mx[U], my[U];
    VI k0[U];
    EACH {
        busy[u] = VI_GT(end[u], k[u]);
        is_attract[u] = VI_GT(VI_SET1(0), nx[u].other);
        dx[u] = VF_SUB(cx[u], nx[u].x);
        dy[u] = VF_SUB(cy[u], nx[u].y);
        k0[u] = k[u];
        k[u] = VI_ADD(k[u], VI_SEL(busy[u], VI_SET1(1), VI_SET1(0)));
        nx[u] = lanes_fetch(blk, k[u], VI_GT(end[u], k[u]));
    }
    EACH {
        d2[u] = VF_ADD(VF_MUL(dx[u], dx[u]), VF_MUL(dy[u], dy[u]));
        live[u] = VM_AND(busy[u], VF_GT(d2[u], VF_SET1(0.0f)));
        x[u] = VF_MAX(d2[u], VF_SET1(LAYOUT_MIN_D2));
    }
    if (c->b_is_one) {
        EACH {
            pw[u] = x[u];
        }
    } else {
        EACH {
            pw[u] = lanes_exp2(VF_MUL(VF_SET1(c->b), lanes_log2(x[u])));
        }
    }
    EACH {
        apw1[u] = VF_ADD(VF_MUL(VF_SET1(c->a), pw[u]), VF_SET1(1.0f));
        /* the quotient of the lane's own kind only: one division instead of two */
        VF num = VF_SEL(is_attract[u], VF_MUL(VF_SET1(c->attract), pw[u]), VF_SET1(c->repel));
        VF den = VF_MUL(VF_SEL(is_attract[u], x[u], VF_ADD(x[u], VF_SET1(0.001f))), apw1[u]);
        coeff[u] = VF_DIV(num, den);
        mx[u] = VF_SEL(live[u], VF_MUL(lanes_clip(VF_MUL(coeff[u], dx[u])), VF_SET1(c->alpha)),
                       VF_SET1(0.0f));
        my[u] = VF_SEL(live[u], VF_MUL(lanes_clip(VF_MUL(coeff[u], dy[u])), VF_SET1(c->alpha)),
                       VF_SET1(0.0f));
        cx[u] = VF_ADD(cx[u], mx[u]);
        cy[u] = VF_ADD(cy[u], my[u]);
    }
    EACH {
        unsigned rec = (unsigned)VM_BITS(VM_AND(busy[u], is_attract[u]));
        if (rec) {
            float mxs[W], mys[W];
            int32_t ks[W];
            VF_STORE(mxs, mx[u]);
            VF_STORE(mys, my[u]);
            VI_STORE(ks, k0[u]);
            for (; rec; rec &= rec - 1) {
                int i = __builtin_ctz(rec);
                int32_t slot = blk->slot[ks[i]];
                if (slot >= 0) {
                    blk->moves[2 * (size_t)slot] = mxs[i];
                    blk->moves[2 * (size_t)slot + 1] = mys[i];
                }
            }
        }
        done[u] = (unsigned)VM_BITS(VM_AND(busy[u], VI_GT(VI_ADD(k[u], VI_SET1(1)), end[u])));
    }
}

/* Lanes of a group left waiting before it is refilled: each refill spills and reloads the group's
 * registers, so finished lanes are collected a few at a time (they compute nothing meanwhile; the
 * points they held are unaffected, as each point's result depends only on its own ops). */
#define REFILL_AT (W / 4)

/* Group u's registers from its spill, with the other points of its lanes' current ops. */
static inline __attribute__((always_inline)) void lanes_load(const layout_block *blk,
                                                             const lanes_spill *s, VI *k, VI *end,
                                                             VF *cx, VF *cy, lanes_other *nx) {
    *k = VI_LOAD(s->k);
    *end = VI_LOAD(s->end);
    *cx = VF_LOAD(s->cx);
    *cy = VF_LOAD(s->cy);
    *nx = lanes_fetch(blk, *k, VI_GT(*end, *k));
}

static void lanes_exec2(const layout_block *blk, const layout_consts *c) {
    lanes_state st;
    VI k[U], end[U];
    VF cx[U], cy[U];
    unsigned pending[U];
    lanes_other nx[U];
    int active = 0;
    st.next = 0;
    for (int u = 0; u < U; u++) {
        lanes_spill *s = &st.g[u];
        for (int i = 0; i < W; i++) {
            s->point[i] = -1;
            s->k[i] = s->end[i] = 0;
        }
        active += W - lanes_refill(blk, &st, s, (1u << W) - 1u);
        pending[u] = 0;
        lanes_load(blk, s, &k[u], &end[u], &cx[u], &cy[u], &nx[u]);
    }
    while (active > 0) {
        unsigned done[U];
        lanes_step(blk, c, k, end, cx, cy, nx, done);
        for (int u = 0; u < U; u++) {
            pending[u] |= done[u];
            active -= __builtin_popcount(done[u]);
            int waiting = __builtin_popcount(pending[u]);
            if (waiting == 0 || (waiting < REFILL_AT && active > 0)) {
                continue;
            }
            lanes_spill *s = &st.g[u];
            VI_STORE(s->k, k[u]);
            VF_STORE(s->cx, cx[u]);
            VF_STORE(s->cy, cy[u]);
            active += waiting - lanes_refill(blk, &st, s, pending[u]);
            pending[u] = 0;
            lanes_load(blk, s, &k[u], &end[u], &cx[u], &cy[u], &nx[u]);
        }
    }
    for (int u = 0; u < U; u++) {
        if (pending[u]) {
            lanes_spill *s = &st.g[u];
            VF_STORE(s->cx, cx[u]);
            VF_STORE(s->cy, cy[u]);
            lanes_refill(blk, &st, s, pending[u]);
        }
    }
}
