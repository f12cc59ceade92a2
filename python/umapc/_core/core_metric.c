#include "core.h"

/* Bindings for the distance metrics: conversion and error translation only. */

static PyObject *core_pairwise_distances(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *keywords[] = {"X", "Y", "metric", "p", "n_jobs", "params", NULL};
    PyObject *x_obj = NULL, *y_obj = Py_None, *jobs_obj = NULL, *params = Py_None;
    PyObject *name = NULL;
    double p = 2.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOdOO:pairwise_distances", keywords, &x_obj,
                                     &y_obj, &name, &p, &jobs_obj, &params)) {
        return NULL;
    }
    umapc_metric metric;
    PyArrayObject *held = NULL;
    int n_jobs = -1;
    if (umapc_parse_jobs(jobs_obj, -1, &n_jobs) < 0 ||
        umapc_metric_arg_obj(name, p, params, &metric, &held) < 0) {
        return NULL;
    }
    PyArrayObject *x = umapc_as_float_matrix(x_obj, "X", 1);
    if (x == NULL) {
        Py_XDECREF(held);
        return NULL;
    }
    PyArrayObject *y = x;
    Py_INCREF(y);
    if (y_obj != Py_None) {
        Py_DECREF(y);
        y = umapc_as_float_matrix(y_obj, "Y", 1);
        if (y == NULL) {
            Py_DECREF(x);
            Py_XDECREF(held);
            return NULL;
        }
    }
    PyArrayObject *out = NULL;
    umapc_error err = {0};
    umapc_status st;
    npy_intp nx = PyArray_DIM(x, 0), ny = PyArray_DIM(y, 0), dim = PyArray_DIM(x, 1);
    if (PyArray_DIM(y, 1) != dim) {
        PyErr_Format(PyExc_ValueError,
                     "X and Y must have the same number of columns, got %zd and %zd",
                     (Py_ssize_t)dim, (Py_ssize_t)PyArray_DIM(y, 1));
        goto done;
    }
    npy_intp shape[2] = {nx, ny};
    out = (PyArrayObject *)PyArray_SimpleNew(2, shape, NPY_FLOAT32);
    if (out == NULL) {
        goto done;
    }
    umapc_run_options run = {n_jobs};
    Py_BEGIN_ALLOW_THREADS;
    st = umapc_pairwise_distances(&metric, (const float *)PyArray_DATA(x), (size_t)nx,
                                  (const float *)PyArray_DATA(y), (size_t)ny, (size_t)dim,
                                  (float *)PyArray_DATA(out), &run, &err);
    Py_END_ALLOW_THREADS;
    if (umapc_custom_check(umapc_custom_ctx(&metric))) {
        Py_CLEAR(out);
    } else if (st != UMAPC_OK) {
        Py_CLEAR(out);
        umapc_raise(st, &err);
    }
done:
    Py_DECREF(x);
    Py_DECREF(y);
    Py_XDECREF(held);
    return (PyObject *)out;
}

static PyObject *core_metric_info(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL) {
        PyErr_SetString(PyExc_TypeError, "metric name must be a string");
        return NULL;
    }
    umapc_metric_kind kind;
    umapc_error err = {0};
    umapc_status st = umapc_metric_parse(name, &kind, &err);
    if (st != UMAPC_OK) {
        return umapc_raise(st, &err);
    }
    return Py_BuildValue("(siO)", umapc_metric_name(kind), (int)kind,
                         umapc_metric_is_angular(kind) ? Py_True : Py_False);
}

static PyObject *core_metric_names(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    size_t n = 0;
    while (umapc_metric_alias(n) != NULL) {
        n++;
    }
    PyObject *names = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; names != NULL && i < n; i++) {
        PyObject *s = PyUnicode_FromString(umapc_metric_alias(i));
        if (s == NULL) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, s);
    }
    return names;
}

PyMethodDef umapc_metric_methods[] = {
    {"pairwise_distances", (PyCFunction)(void (*)(void))core_pairwise_distances,
     METH_VARARGS | METH_KEYWORDS,
     "pairwise_distances(X, Y=None, metric='euclidean', p=2.0, n_jobs=-1, params=None)\n\n"
     "float32 (n_X, n_Y) matrix of distances between the rows of X and Y (Y=None: X itself). "
     "Raises ValueError for an unknown metric, a bad p, NaN/inf input, mismatched columns or "
     "negative data with hellinger."},
    {"metric_info", core_metric_info, METH_O,
     "metric_info(name) -> (canonical_name, kind, angular). ValueError for an unknown name."},
    {"metric_names", core_metric_names, METH_NOARGS,
     "Every metric name and alias pairwise_distances accepts, canonical names first."},
    {NULL, NULL, 0, NULL},
};
