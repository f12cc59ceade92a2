/* Distances with gradients (metric_grad.h). Each follows umap-learn's function of the same name in
 * umap/distances.py term for term, including its guards for zero norms and coincident points, so
 * that inverse_transform and non-euclidean layouts move points as umap-learn's do. */
#include "metric_grad.h"

#include <math.h>
#include <string.h>

static double sign_of(double v) {
    return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0);
}

static float zero_grad(float *grad, size_t dim, float dist) {
    memset(grad, 0, dim * sizeof *grad);
    return dist;
}

static float euclidean_grad(const float *x, const float *y, size_t dim, float *grad) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        s += ((double)x[d] - y[d]) * ((double)x[d] - y[d]);
    }
    double dist = sqrt(s);
    for (size_t d = 0; d < dim; d++) {
        grad[d] = (float)(((double)x[d] - y[d]) / (1e-6 + dist));
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

static float minkowski_grad(const float *x, const float *y, size_t dim, double p, float *grad) {
    double s = 0.0;
    for (size_t d = 0; d < dim; d++) {
        s += pow(fabs((double)x[d] - y[d]), p);
    }
    if (s == 0.0) {
        return zero_grad(grad, dim, 0.0f);
    }
    double inv_denom = pow(s, (1.0 - p) / p);
    for (size_t d = 0; d < dim; d++) {
        double diff = (double)x[d] - y[d];
        grad[d] = (float)(pow(fabs(diff), p - 1.0) * sign_of(diff) * inv_denom);
    }
    return (float)pow(s, 1.0 / p);
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

static float hellinger_grad(const float *x, const float *y, size_t dim, float *grad) {
    double result = 0.0, l1_x = 0.0, l1_y = 0.0;
    for (size_t d = 0; d < dim; d++) {
        result += sqrt((double)x[d] * y[d]);
        l1_x += x[d];
        l1_y += y[d];
    }
    if (l1_x == 0.0 || l1_y == 0.0) {
        return zero_grad(grad, dim, l1_x == 0.0 && l1_y == 0.0 ? 0.0f : 1.0f);
    }
    double denom = sqrt(l1_x * l1_y), dist = sqrt(fmax(0.0, 1.0 - result / denom));
    if (dist == 0.0) {
        return zero_grad(grad, dim, 0.0f);
    }
    double numer_const = (l1_y * result) / (2.0 * denom * denom * denom);
    for (size_t d = 0; d < dim; d++) {
        double root = sqrt((double)x[d] * y[d]);
        double term = x[d] > 0.0f && root > 0.0 ? y[d] / (2.0 * root * denom) : 0.0;
        grad[d] = (float)((numer_const - term) / (2.0 * dist));
    }
    return (float)dist;
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

float metric_grad(metric_grad_kind kind, double p, const float *x, const float *y, size_t dim,
                  float *grad) {
    switch (kind) {
    case GRAD_MANHATTAN:
        return manhattan_grad(x, y, dim, grad);
    case GRAD_CHEBYSHEV:
        return chebyshev_grad(x, y, dim, grad);
    case GRAD_MINKOWSKI:
        return minkowski_grad(x, y, dim, p, grad);
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
    default:
        return euclidean_grad(x, y, dim, grad);
    }
}
