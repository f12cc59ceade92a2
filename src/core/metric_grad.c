/* Distances with gradients (metric_grad.h). Each follows umap-learn's function of the same name in
 * umap/distances.py term for term, including its guards for zero norms and coincident points, so
 * that inverse_transform and non-euclidean layouts move points as umap-learn's do. */
#include "metric_grad.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static double sign_of(double v) {
    return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0);
}

static float zero_grad(float *grad, size_t dim, float dist) {
    memset(grad, 0, dim * sizeof *grad);
    return dist;
}

/* euclidean, and seuclidean with variances v (NULL: ones) */
static float euclidean_grad(const float *x, const float *y, size_t dim, const float *v,
                            float *grad) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        double diff = (double)x[d] - y[d];
        s += v == NULL ? diff * diff : diff * diff / v[d];
    }
    double dist = sqrt(s);
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)(((double)x[d] - y[d]) / (1e-6 + (v == NULL ? dist : dist * v[d])));
    }
    return (float)dist;
}

static float manhattan_grad(const float *x, const float *y, size_t dim, float *grad) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        s += fabs((double)x[d] - y[d]);
        grad[d] = (float)sign_of((double)x[d] - y[d]);
    }
    return (float)s;
}

static float chebyshev_grad(const float *x, const float *y, size_t dim, float *grad) {
    double best = 0.0;
    size_t arg = 0;
    for (size_t d = 0; d < dim; d++) {
        double v = fabs((double)x[d] - y[d]);
        grad[d] = 0.0f;
        if (v > best) {
            best = v;
            arg = d;
        }
    }
    grad[arg] = (float)sign_of((double)x[arg] - y[arg]);
    return (float)best;
}

/* minkowski, and wminkowski with weights w (NULL: ones) */
static float minkowski_grad(const float *x, const float *y, size_t dim, double p, const float *w,
                            float *grad) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        s += (w == NULL ? 1.0 : w[d]) * pow(fabs((double)x[d] - y[d]), p);
    }
    if (s == 0.0) {
        return zero_grad(grad, dim, 0.0f);
    }
    double inv_denom = pow(s, (1.0 - p) / p);
    for (size_t d = 0; d < dim; d++) {
        double diff = (double)x[d] - y[d];
        grad[d] = (float)((w == NULL ? 1.0 : w[d]) * pow(fabs(diff), p - 1.0) * sign_of(diff) *
                          inv_denom);
    }
    return (float)pow(s, 1.0 / p);
}

/* (x - y)' VI (x - y), square-rooted; the gradient is VI (x - y) over the distance as
 * umap-learn's (which is the true one for a symmetric VI). */
static float mahalanobis_grad(const float *x, const float *y, size_t dim, const float *vinv,
                              float *grad) {
    double s = 0.0;
    for (size_t i = 0; i < dim; i++) {
        double t = 0.0;
        for (size_t j = 0; j < dim; j++) {
            t += (double)vinv[i * dim + j] * ((double)x[j] - y[j]);
        }
        grad[i] = (float)t;
        s += t * ((double)x[i] - y[i]);
    }
    double dist = sqrt(fmax(s, 0.0)); /* >= 0 for the positive semi-definite VI checked upstream */
    for (size_t i = 0; i < dim; i++) {
        grad[i] = (float)(grad[i] / (1e-6 + dist));
    }
    return (float)dist;
}

/* cosine and correlation: the same with centred rows for correlation (whose gradient then loses
 * its mean, as umap-learn's). */
static float angular_grad(const float *x, const float *y, size_t dim, int centred, float *grad) {
    double mu_x = 0.0, mu_y = 0.0, dot = 0.0, nx2 = 0.0, ny2 = 0.0;
    for (size_t d = 0; centred && d < dim; d++) {
        mu_x += x[d];
        mu_y += y[d];
    }
    mu_x /= (double)dim;
    mu_y /= (double)dim;
    for (size_t d = 0; d < dim; d++) {
        double cx = x[d] - mu_x, cy = y[d] - mu_y;
        dot += cx * cy;
        nx2 += cx * cx;
        ny2 += cy * cy;
    }
    if (nx2 == 0.0 || ny2 == 0.0) {
        return zero_grad(grad, dim, nx2 == 0.0 && ny2 == 0.0 ? 0.0f : 1.0f);
    }
    double nx = sqrt(nx2), ny = sqrt(ny2), inv_nx_ny = 1.0 / (nx * ny);
    double inv_nx3_ny = 1.0 / (nx2 * nx * ny), mean_grad = 0.0;
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)((x[d] - mu_x) * dot * inv_nx3_ny - (y[d] - mu_y) * inv_nx_ny);
        mean_grad += grad[d];
    }
    mean_grad /= (double)dim;
    for (size_t d = 0; centred && d < dim; d++) {
        grad[d] = (float)(grad[d] - mean_grad);
    }
    return (float)(1.0 - dot * inv_nx_ny);
}

/* hellinger_grad's constants for distributions x, y: their sums, the sum of sqrt(x y), the
 * distance and the gradient's shared term. */
typedef struct hellinger_sums {
    double root_sum, l1_x, l1_y, denom, dist, numer_const;
} hellinger_sums;

/* The distance is set; numer_const only when the gradient is not zero (l1 norms and the distance
 * nonzero; returns 1 then). */
static int hellinger_finish(hellinger_sums *h) {
    if (h->l1_x == 0.0 || h->l1_y == 0.0) {
        h->dist = h->l1_x == 0.0 && h->l1_y == 0.0 ? 0.0 : 1.0;
        return 0;
    }
    h->denom = sqrt(h->l1_x * h->l1_y);
    h->dist = sqrt(fmax(0.0, 1.0 - h->root_sum / h->denom));
    h->numer_const = (h->l1_y * h->root_sum) / (2.0 * h->denom * h->denom * h->denom);
    return h->dist != 0.0;
}

/* The gradient's coordinate of probabilities xd, yd. */
static double hellinger_part(const hellinger_sums *h, double xd, double yd) {
    double root = sqrt(xd * yd);
    double term = xd > 0.0 && root > 0.0 ? yd / (2.0 * root * h->denom) : 0.0;
    return (h->numer_const - term) / (2.0 * h->dist);
}

static float hellinger_grad(const float *x, const float *y, size_t dim, float *grad) {
    hellinger_sums h = {0};
    for (size_t d = 0; d < dim; d++) {
        h.root_sum += sqrt((double)x[d] * y[d]);
        h.l1_x += x[d];
        h.l1_y += y[d];
    }
    if (!hellinger_finish(&h)) {
        return zero_grad(grad, dim, (float)h.dist);
    }
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)hellinger_part(&h, x[d], y[d]);
    }
    return (float)h.dist;
}

/* softmax's maximum and normaliser of z: softmax(z)[d] = exp(z[d] - max) / sum (umap-learn's
 * softmax, whose sum is at least 1 for finite z). */
static void softmax_of(const float *z, size_t dim, double *max, double *sum) {
    *max = z[0];
    for (size_t d = 1; d < dim; d++) {
        *max = z[d] > *max ? z[d] : *max;
    }
    *sum = 0.0;
    for (size_t d = 0; d < dim; d++) {
        *sum += exp((double)z[d] - *max);
    }
}

/* hellinger between softmax(x) and softmax(y), the gradient taken through the softmax of x: p (g
 * - <g, p>) for hellinger's gradient g at p = softmax(x). p is held in grad. */
static float softmax_hellinger_grad(const float *x, const float *y, size_t dim, float *grad) {
    double x_max, x_sum, y_max, y_sum;
    softmax_of(x, dim, &x_max, &x_sum);
    softmax_of(y, dim, &y_max, &y_sum);
    hellinger_sums h = {0};
    for (size_t d = 0; d < dim; d++) {
        double pd = exp((double)x[d] - x_max) / x_sum, qd = exp((double)y[d] - y_max) / y_sum;
        grad[d] = (float)pd;
        h.root_sum += sqrt(pd * qd);
        h.l1_x += pd;
        h.l1_y += qd;
    }
    if (!hellinger_finish(&h)) {
        return zero_grad(grad, dim, (float)h.dist);
    }
    double dot = 0.0;
    for (size_t d = 0; d < dim; d++) {
        double qd = exp((double)y[d] - y_max) / y_sum;
        dot += (double)(float)hellinger_part(&h, grad[d], qd) * grad[d];
    }
    for (size_t d = 0; d < dim; d++) {
        double qd = exp((double)y[d] - y_max) / y_sum;
        grad[d] = (float)(grad[d] * ((double)(float)hellinger_part(&h, grad[d], qd) - dot));
    }
    return (float)h.dist;
}

static float canberra_grad(const float *x, const float *y, size_t dim, float *grad) {
    double result = 0.0;
    for (size_t d = 0; d < dim; d++) {
        double denom = fabs((double)x[d]) + fabs((double)y[d]), diff = (double)x[d] - y[d];
        grad[d] = 0.0f;
        if (denom > 0.0) {
            result += fabs(diff) / denom;
            grad[d] = (float)(sign_of(diff) / denom - fabs(diff) * sign_of(x[d]) / (denom * denom));
        }
    }
    return (float)result;
}

static float braycurtis_grad(const float *x, const float *y, size_t dim, float *grad) {
    double numer = 0.0, denom = 0.0;
    for (size_t d = 0; d < dim; d++) {
        numer += fabs((double)x[d] - y[d]);
        denom += fabs((double)x[d] + y[d]);
    }
    if (!(denom > 0.0)) {
        return zero_grad(grad, dim, 0.0f);
    }
    double dist = numer / denom;
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)((sign_of((double)x[d] - y[d]) - dist) / denom);
    }
    return (float)dist;
}

/* umap-learn shifts the latitudes by pi/2 ("spectral initialization puts many points near the
 * poles"); the same here. */
static float haversine_grad(const float *x, const float *y, float *grad) {
    const double half_pi = 1.5707963267948966;
    double sin_lat = sin(0.5 * ((double)x[0] - y[0])), cos_lat = cos(0.5 * ((double)x[0] - y[0]));
    double sin_long = sin(0.5 * ((double)x[1] - y[1]));
    double cos_long = cos(0.5 * ((double)x[1] - y[1]));
    double cx = cos(x[0] + half_pi), cy = cos(y[0] + half_pi);
    double a0 = cx * cy * sin_long * sin_long, a1 = a0 + sin_lat * sin_lat;
    double dist = 2.0 * asin(sqrt(fmin(fmax(fabs(a1), 0.0), 1.0)));
    double denom = sqrt(fabs(a1 - 1.0)) * sqrt(fabs(a1)) + 1e-6;
    grad[0] = (float)((sin_lat * cos_lat - sin(x[0] + half_pi) * cy * sin_long * sin_long) / denom);
    grad[1] = (float)(cx * cy * sin_long * cos_long / denom);
    return (float)dist;
}

static float hyperboloid_grad(const float *x, const float *y, size_t dim, float *grad) {
    double sx = 0.0, sy = 0.0, xy = 0.0;
    for (size_t d = 0; d < dim; d++) {
        sx += (double)x[d] * x[d];
        sy += (double)y[d] * y[d];
        xy += (double)x[d] * y[d];
    }
    double s = sqrt(1.0 + sx), t = sqrt(1.0 + sy), big_b = s * t - xy;
    big_b = big_b <= 1.0 ? 1.0 + 1e-8 : big_b;
    double coeff = 1.0 / (sqrt(big_b - 1.0) * sqrt(big_b + 1.0));
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)(coeff * ((x[d] * t) / s - y[d]));
    }
    return (float)acosh(big_b);
}

/* umap-learn adds z to every coordinate and divides by their sum; a coordinate below 0 (outside
 * the simplex, where umap-learn takes the log of a negative number or divides by a zero sum) is
 * taken as 0. */
static double kl_coord(float v, double z, double sum) {
    return ((v > 0.0f ? (double)v : 0.0) + z) / sum;
}

static double kl_sum(const float *v, size_t dim, double z) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        s += (v[d] > 0.0f ? (double)v[d] : 0.0) + z;
    }
    return s;
}

static double kl_z(const metric_grad_params *prm) {
    return prm != NULL && prm->n == 1 ? (double)prm->v[0] : 1e-11;
}

static float symmetric_kl_grad(const float *x, const float *y, size_t dim, double z, float *grad) {
    double sx = kl_sum(x, dim, z), sy = kl_sum(y, dim, z), kl = 0.0;
    for (size_t d = 0; d < dim; d++) {
        double a = kl_coord(x[d], z, sx), b = kl_coord(y[d], z, sy);
        kl += a * log(a / b) + b * log(b / a);
        grad[d] = (float)((log(b / a) - a / b + 1.0) / 2.0);
    }
    return (float)(kl / 2.0);
}

static const double two_pi = 6.283185307179586;

/* umap-learn divides by a zero sigma here (ZeroDivisionError); the guard of its
 * diagonal_gaussian_energy_grad is taken instead. */
static float spherical_gaussian_energy_grad(const float *x, const float *y, float *grad) {
    double mu_1 = (double)x[0] - y[0], mu_2 = (double)x[1] - y[1], mu = mu_1 * mu_1 + mu_2 * mu_2;
    double sigma = fabs((double)x[2]) + fabs((double)y[2]);
    if (sigma == 0.0) {
        grad[0] = grad[1] = 0.0f;
        grad[2] = 1.0f;
        return (float)mu;
    }
    grad[0] = (float)(mu_1 / sigma);
    grad[1] = (float)(mu_2 / sigma);
    grad[2] = (float)(sign_of(x[2]) * (1.0 / sigma - mu / (2.0 * sigma * sigma)));
    return (float)(mu / (2.0 * sigma) + log(sigma) + log(two_pi));
}

static float diagonal_gaussian_energy_grad(const float *x, const float *y, float *grad) {
    double mu_1 = (double)x[0] - y[0], mu_2 = (double)x[1] - y[1];
    double s11 = fabs((double)x[2]) + fabs((double)y[2]);
    double s22 = fabs((double)x[3]) + fabs((double)y[3]), det = s11 * s22;
    if (det == 0.0) {
        grad[0] = grad[1] = 0.0f;
        grad[2] = grad[3] = 1.0f;
        return (float)(mu_1 * mu_1 + mu_2 * mu_2);
    }
    double m_dist = s22 * mu_1 * mu_1 + s11 * mu_2 * mu_2;
    grad[0] = (float)(2.0 * s22 * mu_1 / (2.0 * det));
    grad[1] = (float)(2.0 * s11 * mu_2 / (2.0 * det));
    grad[2] =
        (float)(sign_of(x[2]) * (s22 * (det - m_dist) + det * mu_2 * mu_2) / (2.0 * det * det));
    grad[3] =
        (float)(sign_of(x[3]) * (s11 * (det - m_dist) + det * mu_1 * mu_1) / (2.0 * det * det));
    return (float)((m_dist / det + log(det)) / 2.0 + log(two_pi));
}

/* (mu_x, mu_y, width, height, angle): umap-learn's gaussian_energy_grad, on the canonical form
 * metric_grad_fold gives (its widths and angle, not the raw ones). */
static float gaussian_energy_grad(const float *x, const float *y, float *grad) {
    double mu_1 = (double)x[0] - y[0], mu_2 = (double)x[1] - y[1];
    double xw = fabs((double)x[2]), yw = fabs((double)y[2]);
    double xh = fabs((double)x[3]), yh = fabs((double)y[3]);
    double xa = asin(sin((double)x[4])), ya = asin(sin((double)y[4]));
    double cx = cos(xa), sx = sin(xa), cy = cos(ya), sy = sin(ya);
    double a = yw * cy * cy + yh * sy * sy, b = (yw - yh) * sy * cy,
           c = yh * cy * cy + yw * sy * sy;
    double s11 = xw * cx * cx + xh * sx * sx + a;
    double s12 = (xw - xh) * sx * cx + b;
    double s22 = xw * sx * sx + xh * cx * cx + c;
    double det = fabs(s11 * s22 - s12 * s12);
    double numer = s22 * mu_1 * mu_1 - 2.0 * s12 * mu_1 * mu_2 + s11 * mu_2 * mu_2;
    if (det < 1e-32) {
        grad[0] = grad[1] = grad[4] = 0.0f;
        grad[2] = grad[3] = 1.0f;
        return (float)(mu_1 * mu_1 + mu_2 * mu_2);
    }
    double det2 = det * det + 1e-8, s2a = sin(2.0 * xa), c2a = cos(2.0 * xa);
    grad[0] = (float)((2.0 * s22 * mu_1 - 2.0 * s12 * mu_2) / det);
    grad[1] = (float)((2.0 * s11 * mu_2 - 2.0 * s12 * mu_1) / det);
    double g2 = mu_2 * (mu_2 * cx * cx - mu_1 * cx * sx) + mu_1 * (mu_1 * sx * sx - mu_2 * cx * sx);
    g2 = g2 * det - numer * cx * cx * s22 - numer * sx * sx * s11 + numer * 2.0 * s12 * sx * cx;
    grad[2] = (float)(g2 / det2);
    double g3 = mu_1 * (mu_1 * cx * cx - mu_2 * cx * sx) + mu_2 * (mu_2 * sx * sx - mu_1 * cx * sx);
    g3 = g3 * det - numer * sx * sx * s22 - numer * cx * cx * s11 - numer * 2.0 * s12 * sx * cx;
    grad[3] = (float)(g3 / det2);
    double g4 = (xh - xw) * (2.0 * mu_1 * mu_2 * c2a - (mu_1 * mu_1 - mu_2 * mu_2) * s2a);
    g4 = g4 * det - numer * (xh - xw) * s2a * s22 - numer * (xw - xh) * s2a * s11 -
         numer * 2.0 * s12 * (xw - xh) * c2a;
    grad[4] = (float)(g4 / det2);
    return (float)(numer / det + log(det) + log(two_pi));
}

/* The parameter array's length kind needs in dim dimensions (SIZE_MAX: too large). */
static size_t params_needed(metric_grad_kind kind, size_t dim) {
    switch (kind) {
    case GRAD_SEUCLIDEAN:
    case GRAD_WMINKOWSKI:
        return dim;
    case GRAD_MAHALANOBIS:
        return dim != 0 && dim > SIZE_MAX / dim ? SIZE_MAX : dim * dim;
    default:
        return 0;
    }
}

const char *metric_grad_check(metric_grad_kind kind, const metric_grad_params *prm, size_t dim) {
    size_t n = prm != NULL ? prm->n : 0;
    const float *v = prm != NULL ? prm->v : NULL;
    double p = prm != NULL ? prm->p : 2.0;
    if ((unsigned)kind >= GRAD_KIND_COUNT_ || dim == 0) {
        return "unknown metric or no dimensions";
    }
    if (n > 0 && v == NULL) {
        return "a parameter array of nonzero length is NULL";
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return "the parameter array has a value that is not finite";
        }
    }
    if ((kind == GRAD_MINKOWSKI || kind == GRAD_WMINKOWSKI) && !(p > 0.0 && isfinite(p))) {
        return "minkowski and wminkowski need a finite p > 0";
    }
    switch (kind) {
    case GRAD_HAVERSINE:
        return dim == 2 ? NULL : "haversine needs 2 dimensions (latitude, longitude)";
    case GRAD_SPHERICAL_GAUSSIAN_ENERGY:
        return dim == 3 ? NULL : "spherical_gaussian_energy needs 3 dimensions";
    case GRAD_DIAGONAL_GAUSSIAN_ENERGY:
        return dim == 4 ? NULL : "diagonal_gaussian_energy needs 4 dimensions";
    case GRAD_GAUSSIAN_ENERGY:
        return dim == 5 ? NULL : "gaussian_energy needs 5 dimensions";
    case GRAD_SYMMETRIC_KL:
        if (n > 1 || (n == 1 && !(v[0] > 0.0f))) {
            return "symmetric_kl takes one parameter, z > 0";
        }
        return NULL;
    default:
        break;
    }
    if (n != params_needed(kind, dim)) {
        switch (kind) {
        case GRAD_SEUCLIDEAN:
            return "seuclidean needs V of one variance per dimension";
        case GRAD_WMINKOWSKI:
            return "wminkowski needs w of one weight per dimension";
        case GRAD_MAHALANOBIS:
            return "mahalanobis needs VI of dim x dim entries";
        default:
            return "this metric takes no parameter array";
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (kind == GRAD_SEUCLIDEAN && !(v[i] > 0.0f)) {
            return "seuclidean needs variances V > 0";
        }
        if (kind == GRAD_WMINKOWSKI && v[i] < 0.0f) {
            return "wminkowski needs weights w >= 0";
        }
    }
    return NULL;
}

void metric_grad_fold(metric_grad_kind kind, const metric_grad_params *prm, float *x, size_t dim) {
    if (kind == GRAD_GAUSSIAN_ENERGY && dim == 5) {
        x[2] = fabsf(x[2]);
        x[3] = fabsf(x[3]);
        x[4] = (float)asin(sin((double)x[4]));
    } else if (kind == GRAD_SYMMETRIC_KL) {
        double z = kl_z(prm), sum = kl_sum(x, dim, z);
        for (size_t d = 0; d < dim; d++) {
            x[d] = (float)kl_coord(x[d], z, sum);
        }
    }
}

float metric_grad(metric_grad_kind kind, const metric_grad_params *prm, const float *x,
                  const float *y, size_t dim, float *grad) {
    double p = prm != NULL ? prm->p : 2.0;
    const float *v = prm != NULL && prm->n > 0 ? prm->v : NULL;
    switch (kind) {
    case GRAD_MANHATTAN:
        return manhattan_grad(x, y, dim, grad);
    case GRAD_CHEBYSHEV:
        return chebyshev_grad(x, y, dim, grad);
    case GRAD_MINKOWSKI:
        return minkowski_grad(x, y, dim, p, NULL, grad);
    case GRAD_COSINE:
        return angular_grad(x, y, dim, 0, grad);
    case GRAD_CORRELATION:
        return angular_grad(x, y, dim, 1, grad);
    case GRAD_HELLINGER:
        return hellinger_grad(x, y, dim, grad);
    case GRAD_CANBERRA:
        return canberra_grad(x, y, dim, grad);
    case GRAD_BRAYCURTIS:
        return braycurtis_grad(x, y, dim, grad);
    case GRAD_HAVERSINE:
        return dim == 2 ? haversine_grad(x, y, grad) : zero_grad(grad, dim, 0.0f);
    case GRAD_HYPERBOLOID:
        return hyperboloid_grad(x, y, dim, grad);
    case GRAD_SEUCLIDEAN:
        return euclidean_grad(x, y, dim, v, grad);
    case GRAD_WMINKOWSKI:
        return minkowski_grad(x, y, dim, p, v, grad);
    case GRAD_MAHALANOBIS:
        return v != NULL ? mahalanobis_grad(x, y, dim, v, grad)
                         : euclidean_grad(x, y, dim, NULL, grad);
    case GRAD_SYMMETRIC_KL:
        return symmetric_kl_grad(x, y, dim, kl_z(prm), grad);
    case GRAD_SOFTMAX_HELLINGER:
        return softmax_hellinger_grad(x, y, dim, grad);
    case GRAD_SPHERICAL_GAUSSIAN_ENERGY:
        return dim == 3 ? spherical_gaussian_energy_grad(x, y, grad) : zero_grad(grad, dim, 0.0f);
    case GRAD_DIAGONAL_GAUSSIAN_ENERGY:
        return dim == 4 ? diagonal_gaussian_energy_grad(x, y, grad) : zero_grad(grad, dim, 0.0f);
    case GRAD_GAUSSIAN_ENERGY:
        return dim == 5 ? gaussian_energy_grad(x, y, grad) : zero_grad(grad, dim, 0.0f);
    default:
        return euclidean_grad(x, y, dim, NULL, grad);
    }
}
