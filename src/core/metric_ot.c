/* Optimal transport between two histograms under a cost matrix, as pynndescent's kantorovich
 * and sinkhorn define it: both rows normalised to sum 1 and restricted to their nonzero bins, the
 * cost restricted to those rows and columns. Each distance solves its own small problem, with
 * scratch from the heap (its size depends on the rows). */
#include "metric_ot.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NONE SIZE_MAX

/* pynndescent's sinkhorn_iterations: its round limit and tolerances. */
#define SINKHORN_ROUNDS         1000
#define SINKHORN_TOLERANCE      1e-9
#define SINKHORN_CHANGE_EVERY   20
#define SINKHORN_MARGINAL_EVERY 10

/* The two rows' nonzero bins: na sources, nb sinks, their columns and normalised masses. */
typedef struct ot_bins {
    size_t na, nb, dim;
    size_t *at_a, *at_b;
    double *a, *b;
    const float *cost;
} ot_bins;

static size_t count_nonzero(const float *row, size_t dim) {
    size_t k = 0;
    for (size_t i = 0; i < dim; i++) {
        k += row[i] != 0.0f;
    }
    return k;
}

/* Fills at and mass with row's nonzero bins normalised to sum 1; -1 when the row has no positive
 * mass (a zero row, or one no check let in: negative or non-finite sums). */
static int gather(const float *row, size_t dim, size_t *at, double *mass) {
    double sum = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < dim; i++) {
        if (row[i] != 0.0f) {
            at[k] = i;
            mass[k] = row[i];
            sum += row[i];
            k++;
        }
    }
    if (!(sum > 0.0) || !isfinite(sum)) {
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        mass[i] /= sum;
    }
    return 0;
}

/* Allocates and fills bins, with room for `extra` more doubles per pair of bins and `per_node`
 * doubles and size_t per bin after the masses (*work, *index); -1 on a row without mass or on
 * exhaustion (nothing left allocated). */
static int bins_open(ot_bins *s, const float *cost, const float *a, const float *b, size_t dim,
                     size_t extra, size_t per_node, double **work, size_t **index) {
    s->na = count_nonzero(a, dim);
    s->nb = count_nonzero(b, dim);
    s->dim = dim;
    s->cost = cost;
    size_t nodes = s->na + s->nb;
    if (s->na == 0 || s->nb == 0 || s->na > SIZE_MAX / 8 / (s->nb * (extra + 1) + 1)) {
        return -1;
    }
    size_t doubles = nodes + s->na * s->nb * extra + nodes * per_node;
    size_t indices = nodes + nodes * per_node;
    s->a = malloc(doubles * sizeof(double));
    s->at_a = malloc(indices * sizeof(size_t));
    if (s->a == NULL || s->at_a == NULL) {
        free(s->a);
        free(s->at_a);
        return -1;
    }
    s->b = s->a + s->na;
    s->at_b = s->at_a + s->na;
    *work = s->a + nodes;
    *index = s->at_a + nodes;
    if (gather(a, dim, s->at_a, s->a) || gather(b, dim, s->at_b, s->b)) {
        free(s->a);
        free(s->at_a);
        return -1;
    }
    return 0;
}

static void bins_close(ot_bins *s) {
    free(s->a);
    free(s->at_a);
}

static inline double cost_of(const ot_bins *s, size_t i, size_t j) {
    return s->cost[s->at_a[i] * s->dim + s->at_b[j]];
}

/* ---- kantorovich: successive shortest paths ------------------------------------------------ */

/* The exact problem is a min-cost flow from the sources (supply a) to the sinks (demand b) over
 * the complete bipartite graph, which successive shortest paths solve exactly: costs are >= 0, so
 * zero potentials start it feasible, and Dijkstra on reduced costs finds each cheapest path from a
 * source with supply left to a sink with demand left. Each augmentation empties a supply, a demand
 * or a flow it cancels, exactly (x - x is 0 in floating point), so the loop ends. Nodes 0..na-1
 * are sources, na.. sinks. */
typedef struct ot_flow {
    ot_bins bins;
    double *flow;      /* na x nb */
    double *potential; /* per node */
    double *dist;      /* per node */
    size_t *pred;      /* per node: the node before it on its shortest path, NONE at a root */
    size_t *done;      /* per node: 1 once its distance is final */
} ot_flow;

static void relax(ot_flow *f, size_t v, size_t from, double rc) {
    double d = f->dist[from] + (rc > 0.0 ? rc : 0.0); /* rounding can leave -1e-17 */
    if (d < f->dist[v]) {
        f->dist[v] = d;
        f->pred[v] = from;
    }
}

/* Dijkstra from every source with supply left, stopped at the first sink with demand left (its
 * index among the sinks, NONE when there is none). */
static size_t shortest_path(ot_flow *f) {
    size_t na = f->bins.na, nb = f->bins.nb, nodes = na + nb;
    for (size_t v = 0; v < nodes; v++) {
        f->dist[v] = v < na && f->bins.a[v] > 0.0 ? 0.0 : INFINITY;
        f->pred[v] = NONE;
        f->done[v] = 0;
    }
    for (;;) {
        size_t u = NONE;
        double best = INFINITY;
        for (size_t v = 0; v < nodes; v++) {
            if (!f->done[v] && f->dist[v] < best) {
                best = f->dist[v];
                u = v;
            }
        }
        if (u == NONE) {
            return NONE;
        }
        f->done[u] = 1;
        if (u < na) {
            for (size_t j = 0; j < nb; j++) {
                if (!f->done[na + j]) {
                    double rc = cost_of(&f->bins, u, j) + f->potential[u] - f->potential[na + j];
                    relax(f, na + j, u, rc);
                }
            }
            continue;
        }
        size_t j = u - na;
        if (f->bins.b[j] > 0.0) {
            return j;
        }
        for (size_t i = 0; i < na; i++) { /* back along arcs that carry flow */
            if (!f->done[i] && f->flow[i * nb + j] > 0.0) {
                double rc = -cost_of(&f->bins, i, j) + f->potential[u] - f->potential[i];
                relax(f, i, u, rc);
            }
        }
    }
}

/* Potentials moved by the distances, capped at the sink's, keep every reduced cost >= 0 (the
 * nodes Dijkstra did not settle are at least that far). */
static void update_potentials(ot_flow *f, size_t sink) {
    size_t nodes = f->bins.na + f->bins.nb;
    double reach = f->dist[f->bins.na + sink];
    for (size_t v = 0; v < nodes; v++) {
        f->potential[v] += f->dist[v] < reach ? f->dist[v] : reach;
    }
}

static void augment(ot_flow *f, size_t sink) {
    size_t na = f->bins.na, nb = f->bins.nb;
    double delta = f->bins.b[sink];
    size_t root = NONE;
    for (size_t v = na + sink; root == NONE;) {
        size_t i = f->pred[v];
        if (f->pred[i] == NONE) {
            root = i;
        } else {
            size_t back = f->pred[i] - na;
            delta = fmin(delta, f->flow[i * nb + back]);
            v = f->pred[i];
        }
    }
    delta = fmin(delta, f->bins.a[root]);
    for (size_t v = na + sink;;) {
        size_t i = f->pred[v];
        f->flow[i * nb + (v - na)] += delta;
        if (i == root) {
            break;
        }
        size_t back = f->pred[i] - na;
        f->flow[i * nb + back] -= delta;
        v = f->pred[i];
    }
    f->bins.a[root] -= delta;
    f->bins.b[sink] -= delta;
}

static int any_positive(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (v[i] > 0.0) {
            return 1;
        }
    }
    return 0;
}

float metric_ot_kantorovich(const float *cost, double max_iter, const float *a, const float *b,
                            size_t dim) {
    ot_flow f;
    double *work;
    size_t *index;
    /* per pair: the flow; per node: potential, dist (doubles) and pred, done (size_t) */
    if (bins_open(&f.bins, cost, a, b, dim, 1, 2, &work, &index)) {
        return NAN;
    }
    size_t na = f.bins.na, nb = f.bins.nb, nodes = na + nb;
    f.flow = work;
    f.potential = work + na * nb;
    f.dist = f.potential + nodes;
    f.pred = index;
    f.done = index + nodes;
    for (size_t e = 0; e < na * nb; e++) {
        f.flow[e] = 0.0;
    }
    for (size_t v = 0; v < nodes; v++) {
        f.potential[v] = 0.0;
    }
    for (double it = 0.0; it < max_iter; it += 1.0) {
        if (!any_positive(f.bins.a, na) || !any_positive(f.bins.b, nb)) {
            break;
        }
        size_t sink = shortest_path(&f);
        if (sink == NONE) {
            break;
        }
        update_potentials(&f, sink);
        augment(&f, sink);
    }
    /* at the iteration limit: what is left, in row order */
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb && f.bins.a[i] > 0.0; j++) {
            double m = fmin(f.bins.a[i], f.bins.b[j]);
            if (m > 0.0) {
                f.flow[i * nb + j] += m;
                f.bins.a[i] -= m;
                f.bins.b[j] -= m;
            }
        }
    }
    double total = 0.0;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            total += f.flow[i * nb + j] * cost_of(&f.bins, i, j);
        }
    }
    bins_close(&f.bins);
    return (float)total;
}

/* ---- sinkhorn -------------------------------------------------------------------------------- */

static int all_finite(const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

static void copy(double *to, const double *from, size_t n) {
    for (size_t i = 0; i < n; i++) {
        to[i] = from[i];
    }
}

float metric_ot_sinkhorn(const float *cost, double regularization, const float *a, const float *b,
                         size_t dim) {
    ot_bins s;
    double *work;
    size_t *index;
    /* per pair: K; per node: the scalings u|v, their next and their previous values */
    if (bins_open(&s, cost, a, b, dim, 1, 3, &work, &index)) {
        return NAN;
    }
    size_t na = s.na, nb = s.nb, nodes = na + nb;
    double *k = work, *u = k + na * nb, *v = u + na, *next_u = u + nodes, *next_v = next_u + na;
    double *prev_u = next_u + nodes, *prev_v = prev_u + na;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            k[i * nb + j] = exp(-cost_of(&s, i, j) / regularization);
        }
        u[i] = 1.0 / (double)na;
    }
    for (size_t j = 0; j < nb; j++) {
        v[j] = 1.0 / (double)nb;
    }
    copy(prev_u, u, nodes);
    for (int it = 0; it < SINKHORN_ROUNDS; it++) {
        for (size_t j = 0; j < nb; j++) {
            double t = 0.0;
            for (size_t i = 0; i < na; i++) {
                t += k[i * nb + j] * u[i];
            }
            next_v[j] = s.b[j] / t;
        }
        if (!all_finite(next_v, nb)) {
            break;
        }
        for (size_t i = 0; i < na; i++) {
            double t = 0.0;
            for (size_t j = 0; j < nb; j++) {
                t += k[i * nb + j] * next_v[j];
            }
            next_u[i] = s.a[i] / t;
        }
        if (!all_finite(next_u, na)) {
            break;
        }
        copy(u, next_u, nodes); /* u and v, next_u and next_v are adjacent */
        if (it % SINKHORN_CHANGE_EVERY == 0) {
            double change = 0.0;
            for (size_t i = 0; i < na; i++) {
                for (size_t j = 0; j < nb; j++) {
                    double old = prev_u[i] * prev_v[j];
                    change += fabs(old - u[i] * v[j]) / old;
                }
            }
            if (change / (double)(na * nb) <= SINKHORN_TOLERANCE) {
                break;
            }
            copy(prev_u, u, nodes);
        }
        if (it % SINKHORN_MARGINAL_EVERY == 0) {
            double err = 0.0;
            for (size_t j = 0; j < nb; j++) {
                double t = 0.0;
                for (size_t i = 0; i < na; i++) {
                    t += u[i] * k[i * nb + j];
                }
                double d = s.b[j] - t * v[j];
                err += d * d;
            }
            if (sqrt(err) <= SINKHORN_TOLERANCE) {
                break;
            }
        }
    }
    double total = 0.0;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            total += u[i] * k[i * nb + j] * v[j] * cost_of(&s, i, j);
        }
    }
    bins_close(&s);
    return (float)total;
}
