#include "core.h"

/* Bindings for sparse (CSR) rows: conversion and error translation only. Sparse rows travel as
 * the tuple (indptr, indices, data, n_cols) that umapc's Python layer builds from a scipy matrix
 * in canonical form. */

void umapc_csr_release(umapc_csr_hold *hold) {
    Py_XDECREF(hold->indptr);
    Py_XDECREF(hold->indices);
    Py_XDECREF(hold->data);
    hold->indptr = hold->indices = hold->data = NULL;
}

static PyArrayObject *as_vector(PyObject *obj, int type, const char *what) {
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(
        obj, type, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    if (a == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "sparse rows: %s must be a 1-D numeric array", what);
    }
    return a;
}

int umapc_as_csr(PyObject *obj, const char *name, umapc_csr *out, umapc_csr_hold *hold) {
    memset(hold, 0, sizeof *hold);
    PyObject *indptr_obj = NULL, *indices_obj = NULL, *data_obj = NULL;
    Py_ssize_t n_cols = 0;
    if (!PyTuple_Check(obj) ||
        !PyArg_ParseTuple(obj, "OOOn", &indptr_obj, &indices_obj, &data_obj, &n_cols)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be sparse rows (indptr, indices, data, n_cols)",
                     name);
        return -1;
    }
    hold->indptr = as_vector(indptr_obj, NPY_INT64, "indptr");
    hold->indices = hold->indptr ? as_vector(indices_obj, NPY_INT32, "indices") : NULL;
    hold->data = hold->indices ? as_vector(data_obj, NPY_FLOAT32, "data") : NULL;
    if (hold->data == NULL) {
        umapc_csr_release(hold);
        return -1;
    }
    npy_intp rows = PyArray_DIM(hold->indptr, 0) - 1;
    npy_intp nnz = PyArray_DIM(hold->indices, 0);
    if (rows < 1 || n_cols < 1 || PyArray_DIM(hold->data, 0) != nnz ||
        ((const int64_t *)PyArray_DATA(hold->indptr))[rows] != (int64_t)nnz) {
        umapc_csr_release(hold);
        PyErr_Format(PyExc_ValueError,
                     "%s: inconsistent sparse rows (need at least one row and one column, and "
                     "as many values as indices, indptr ending at their count)",
                     name);
        return -1;
    }
    *out = (umapc_csr){(size_t)rows, (size_t)n_cols, (const int64_t *)PyArray_DATA(hold->indptr),
                       (const int32_t *)PyArray_DATA(hold->indices),
                       (const float *)PyArray_DATA(hold->data)};
    return 0;
}

/* Converts X and checks it for the metric, with the GIL released for the scan. */
static int csr_checked(PyObject *obj, const char *name, const umapc_metric *metric, umapc_csr *x,
                       umapc_csr_hold *hold) {
    if (umapc_as_csr(obj, name, x, hold) < 0) {
        return -1;
    }
    umapc_error err = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_sparse_check_data(metric, x, &err);
    Py_END_ALLOW_THREADS;
    if (st != UMAPC_OK) {
        umapc_csr_release(hold);
        umapc_raise(st, &err);
        return -1;
    }
    return 0;
}

static PyObject *core_sparse_check_data(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"X", "metric", "p", "params", NULL};
    PyObject *x_obj = NULL, *params = Py_None;
    const char *name = "euclidean";
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|sdO:sparse_check_data", keywords, &x_obj,
                                     &name, &p, &params)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    if (umapc_metric_arg(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    umapc_csr x;
    umapc_csr_hold hold;
    int failed = csr_checked(x_obj, "X", &metric, &x, &hold) < 0;
    umapc_csr_release(&hold);
    Py_XDECREF(held);
    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *core_sparse_supported(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL) {
        return NULL;
    }
    umapc_metric_kind kind;
    umapc_error err = {0};
    umapc_status st = umapc_metric_parse(name, &kind, &err);
    if (st != UMAPC_OK) {
        return umapc_raise(st, &err);
    }
    return PyBool_FromLong(umapc_metric_sparse_supported(kind));
}

static PyObject *core_sparse_pairwise(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"X", "Y", "metric", "p", "params", "n_jobs", NULL};
    PyObject *x_obj = NULL, *y_obj = Py_None, *params = Py_None, *jobs_obj = NULL;
    const char *name = "euclidean";
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OsdOO:sparse_pairwise_distances", keywords,
                                     &x_obj, &y_obj, &name, &p, &params, &jobs_obj)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    int n_jobs = -1;
    if (umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0 ||
        umapc_metric_arg(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    umapc_csr x, y;
    umapc_csr_hold hx, hy = {0};
    PyObject *result = NULL;
    if (csr_checked(x_obj, "X", &metric, &x, &hx) < 0) {
        Py_XDECREF(held);
        return NULL;
    }
    if (y_obj == Py_None) {
        y = x;
    } else if (csr_checked(y_obj, "Y", &metric, &y, &hy) < 0) {
        goto done;
    }
    npy_intp dims[2] = {(npy_intp)x.n_rows, (npy_intp)y.n_rows};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (out == NULL) {
        goto done;
    }
    umapc_run_options opts;
    umapc_run_options_init(&opts);
    opts.n_threads = n_jobs;
    umapc_error err = {0};
    umapc_status st;
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_sparse_pairwise_distances(&metric, &x, &y, (float *)PyArray_DATA(out), &opts, &err);
    Py_END_ALLOW_THREADS;
    if (st != UMAPC_OK) {
        Py_DECREF(out);
        umapc_raise(st, &err);
        goto done;
    }
    result = (PyObject *)out;
done:
    umapc_csr_release(&hx);
    umapc_csr_release(&hy);
    Py_XDECREF(held);
    return result;
}

static PyObject *core_sparse_exact_search(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"data",   "queries",  "k",           "metric", "p", "params",
                               "n_jobs", "progress", "filter_mask", "self",   NULL};
    PyObject *d_obj = NULL, *q_obj = Py_None, *params = Py_None, *jobs_obj = NULL;
    PyObject *callback = Py_None, *mask_obj = Py_None;
    long k = 0;
    int self_graph = 0;
    const char *name = "euclidean";
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOl|sdOOOOp:sparse_exact_search", keywords,
                                     &d_obj, &q_obj, &k, &name, &p, &params, &jobs_obj, &callback,
                                     &mask_obj, &self_graph)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL, *mask = NULL;
    int n_jobs = -1;
    if (umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0 ||
        umapc_metric_arg(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    umapc_csr data, queries;
    umapc_csr_hold hd, hq = {0};
    PyObject *result = NULL;
    if (csr_checked(d_obj, "data", &metric, &data, &hd) < 0) {
        Py_XDECREF(held);
        return NULL;
    }
    if (self_graph) {
        queries = data;
    } else if (csr_checked(q_obj, "queries", &metric, &queries, &hq) < 0) {
        goto done;
    }
    if (k < 1 || (size_t)k > data.n_rows) {
        PyErr_Format(PyExc_ValueError,
                     "k must be between 1 and the number of data rows (%zu), got %ld", data.n_rows,
                     k);
        goto done;
    }
    if (mask_obj != Py_None && self_graph) {
        PyErr_SetString(PyExc_ValueError, "filter_mask applies to queries, not to the graph");
        goto done;
    }
    if (mask_obj != Py_None &&
        (mask = umapc_as_mask(mask_obj, (npy_intp)data.n_rows, "filter_mask")) == NULL) {
        goto done;
    }
    PyArrayObject *indices = NULL, *distances = NULL;
    if (umapc_new_neighbors((npy_intp)queries.n_rows, (npy_intp)k, &indices, &distances) < 0) {
        goto done;
    }
    umapc_exact_options opts;
    umapc_exact_options_init(&opts);
    opts.n_threads = n_jobs;
    umapc_bridge bridge;
    umapc_bridge_init(&bridge, callback);
    umapc_error err = {0};
    umapc_status st;
    umapc_idx *ind = (umapc_idx *)PyArray_DATA(indices);
    float *dist = (float *)PyArray_DATA(distances);
    const uint8_t *m = mask != NULL ? (const uint8_t *)PyArray_DATA(mask) : NULL;
    Py_BEGIN_ALLOW_THREADS;
    st = self_graph ? umapc_exact_knn_graph_csr(&metric, &data, (size_t)k, &opts, &bridge.progress,
                                                ind, dist, &err)
                    : umapc_exact_search_csr(&metric, &data, &queries, (size_t)k, m, &opts,
                                             &bridge.progress, ind, dist, &err);
    Py_END_ALLOW_THREADS;
    result = umapc_neighbors_result(st, &err, &bridge, indices, distances);
done:
    umapc_csr_release(&hd);
    umapc_csr_release(&hq);
    Py_XDECREF(mask);
    Py_XDECREF(held);
    return result;
}

PyMethodDef umapc_sparse_methods[] = {
    {"sparse_check_data", (PyCFunction)(void (*)(void))core_sparse_check_data,
     METH_VARARGS | METH_KEYWORDS,
     "sparse_check_data(X, metric='euclidean', p=2.0, params=None): ValueError unless the sparse "
     "rows X = (indptr, indices, data, n_cols) are canonical, finite and in the metric's "
     "domain, and the metric has a sparse kernel."},
    {"sparse_supported", core_sparse_supported, METH_O,
     "sparse_supported(metric) -> bool: whether the metric has a sparse kernel."},
    {"sparse_pairwise_distances", (PyCFunction)(void (*)(void))core_sparse_pairwise,
     METH_VARARGS | METH_KEYWORDS,
     "sparse_pairwise_distances(X, Y=None, metric='euclidean', p=2.0, params=None, n_jobs=-1) "
     "-> float32 (n_x, n_y) distances between sparse rows."},
    {"sparse_exact_search", (PyCFunction)(void (*)(void))core_sparse_exact_search,
     METH_VARARGS | METH_KEYWORDS,
     "sparse_exact_search(data, queries, k, metric='euclidean', p=2.0, params=None, n_jobs=-1, "
     "progress=None, filter_mask=None, self=False) -> (indices, distances): the k nearest data "
     "rows of each query row (self=True: the all-points graph of data, each row first itself)."},
    {NULL, NULL, 0, NULL},
};
