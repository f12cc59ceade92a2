#include "core.h"

#include <stdint.h>

#include <math.h>
#include <time.h>

PyObject *umapc_raise(umapc_status status, const umapc_error *err) {
    const char *message =
        (err != NULL && err->message[0] != '\0') ? err->message : umapc_status_name(status);
    switch (status) {
    case UMAPC_OK:
        PyErr_SetString(PyExc_SystemError, "umapc_raise called without an error");
        break;
    case UMAPC_ERR_INVALID_ARGUMENT:
        PyErr_SetString(PyExc_ValueError, message);
        break;
    case UMAPC_ERR_OUT_OF_MEMORY:
        PyErr_SetString(PyExc_MemoryError, message);
        break;
    case UMAPC_ERR_IO:
        PyErr_SetString(PyExc_OSError, message);
        break;
    case UMAPC_ERR_CORRUPT:
        PyErr_SetString(umapc_CorruptIndexError ? umapc_CorruptIndexError : PyExc_OSError, message);
        break;
    case UMAPC_ERR_INTERRUPTED:
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_KeyboardInterrupt, message);
        }
        break;
    default:
        PyErr_SetString(PyExc_RuntimeError, message);
        break;
    }
    return NULL;
}

static int has_nonfinite(const float *values, size_t count) {
    int bad = 0;
    /* One pass with the GIL released: inputs can be gigabytes. Summing x*0 turns any NaN or inf
     * into NaN, which keeps the loop branch-free and vectorisable. */
    Py_BEGIN_ALLOW_THREADS;
    float acc = 0.0f;
    for (size_t i = 0; i < count; i++) {
        acc += values[i] * 0.0f;
    }
    bad = !(acc == 0.0f);
    Py_END_ALLOW_THREADS;
    return bad;
}

static int is_numeric(PyArray_Descr *descr) {
    return PyTypeNum_ISBOOL(descr->type_num) || PyTypeNum_ISINTEGER(descr->type_num) ||
           PyTypeNum_ISFLOAT(descr->type_num);
}

PyArrayObject *umapc_as_float_matrix(PyObject *obj, const char *name, int check_finite) {
    PyArrayObject *probe = (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, 0);
    if (probe == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a numeric array, got %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (!is_numeric(PyArray_DESCR(probe))) {
        PyErr_Format(PyExc_TypeError, "%s must hold numbers (bool, integer or float), not dtype %c",
                     name, PyArray_DESCR(probe)->type);
        Py_DECREF(probe);
        return NULL;
    }
    if (PyArray_NDIM(probe) != 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s must be a 2-D array (n_samples, n_features), got %d dimension(s)", name,
                     PyArray_NDIM(probe));
        Py_DECREF(probe);
        return NULL;
    }
    if (PyArray_DIM(probe, 0) == 0 || PyArray_DIM(probe, 1) == 0) {
        PyErr_Format(PyExc_ValueError, "%s is empty: shape (%zd, %zd)", name,
                     (Py_ssize_t)PyArray_DIM(probe, 0), (Py_ssize_t)PyArray_DIM(probe, 1));
        Py_DECREF(probe);
        return NULL;
    }
    PyArrayObject *array = (PyArrayObject *)PyArray_FROMANY(
        (PyObject *)probe, NPY_FLOAT32, 2, 2,
        NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    Py_DECREF(probe);
    if (array == NULL) {
        return NULL;
    }
    if (check_finite &&
        has_nonfinite((const float *)PyArray_DATA(array), (size_t)PyArray_SIZE(array))) {
        PyErr_Format(PyExc_ValueError, "%s contains NaN or infinity", name);
        Py_DECREF(array);
        return NULL;
    }
    return array;
}

PyArrayObject *umapc_as_mask(PyObject *obj, npy_intp n, const char *name) {
    PyArrayObject *probe = (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, 0);
    if (probe == NULL) {
        return NULL;
    }
    if (PyArray_DESCR(probe)->type_num != NPY_BOOL) {
        PyErr_Format(PyExc_TypeError, "%s must be a boolean array", name);
        Py_DECREF(probe);
        return NULL;
    }
    if (PyArray_NDIM(probe) != 1 || PyArray_DIM(probe, 0) != n) {
        PyErr_Format(PyExc_ValueError, "%s must be 1-D with one entry per indexed point (%zd)",
                     name, (Py_ssize_t)n);
        Py_DECREF(probe);
        return NULL;
    }
    PyArrayObject *mask = (PyArrayObject *)PyArray_FROMANY(
        (PyObject *)probe, NPY_UINT8, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_FORCECAST);
    Py_DECREF(probe);
    return mask;
}

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs on the C side with the GIL released; takes it only to look for signals and to call the
 * Python callback, at most ~20 times per second. */
static int bridge_progress(void *user, const char *stage, size_t done, size_t total) {
    umapc_bridge *bridge = (umapc_bridge *)user;
    double now = monotonic_seconds();
    int final = (done == total);
    if (!final && now - bridge->last_check < 0.05) {
        return 0;
    }
    bridge->last_check = now;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (PyErr_CheckSignals() < 0) {
        bridge->failed = 1;
    } else if (bridge->callback != NULL) {
        PyObject *result = PyObject_CallFunction(bridge->callback, "snn", stage, (Py_ssize_t)done,
                                                 (Py_ssize_t)total);
        if (result == NULL) {
            bridge->failed = 1;
        } else {
            Py_DECREF(result);
        }
    }
    PyGILState_Release(gil);
    return bridge->failed;
}

void umapc_bridge_init(umapc_bridge *bridge, PyObject *callback) {
    bridge->progress.fn = bridge_progress;
    bridge->progress.user = bridge;
    bridge->callback = (callback == Py_None) ? NULL : callback;
    bridge->failed = 0;
    bridge->last_check = 0.0;
}

int umapc_new_neighbors(npy_intp rows, npy_intp k, PyArrayObject **indices,
                        PyArrayObject **distances) {
    npy_intp shape[2] = {rows, k};
    *indices = (PyArrayObject *)PyArray_SimpleNew(2, shape, NPY_INT32);
    *distances = (PyArrayObject *)PyArray_SimpleNew(2, shape, NPY_FLOAT32);
    if (*indices == NULL || *distances == NULL) {
        Py_CLEAR(*indices);
        Py_CLEAR(*distances);
        return -1;
    }
    return 0;
}

PyObject *umapc_raise_call(umapc_status status, const umapc_error *err,
                           const umapc_bridge *bridge) {
    if (bridge != NULL && umapc_bridge_failed(bridge) && PyErr_Occurred()) {
        return NULL;
    }
    return umapc_raise(status, err);
}

PyObject *umapc_neighbors_result(umapc_status status, const umapc_error *err,
                                 const umapc_bridge *bridge, PyArrayObject *indices,
                                 PyArrayObject *distances) {
    if (status != UMAPC_OK) {
        Py_DECREF(indices);
        Py_DECREF(distances);
        return umapc_raise_call(status, err, bridge);
    }
    return Py_BuildValue("(NN)", (PyObject *)indices, (PyObject *)distances);
}

int umapc_bridge_failed(const umapc_bridge *bridge) {
    return bridge->failed;
}

int umapc_parse_jobs(PyObject *obj, int default_value, int *out) {
    if (obj == NULL || obj == Py_None) {
        *out = default_value;
        return 0;
    }
    long value = PyLong_AsLong(obj);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_TypeError, "n_jobs must be an integer or None");
        return -1;
    }
    if (value == 0 || value < -1) {
        PyErr_Format(PyExc_ValueError, "n_jobs must be -1 or a positive integer, got %ld", value);
        return -1;
    }
    if (value > UMAPC_MAX_JOBS) {
        PyErr_Format(PyExc_ValueError,
                     "n_jobs=%ld is more than the %d threads umapc supports (this machine has %d "
                     "usable CPUs; -1 uses all of them)",
                     value, UMAPC_MAX_JOBS, umapc_usable_cpus());
        return -1;
    }
    /* The library caps the thread count at the usable CPUs (umapc_resolve_threads). */
    *out = (int)value;
    return 0;
}

int umapc_metric_arg(const char *name, double p, PyObject *params, umapc_metric *metric,
                     PyArrayObject **held) {
    umapc_error err = {0};
    umapc_metric_init(metric);
    metric->p = p;
    *held = NULL;
    if (params != NULL && params != Py_None) {
        /* Any real array (V, w, or a 2-d VI, read in C order) as float32, as the data are. */
        *held = (PyArrayObject *)PyArray_FROMANY(params, NPY_FLOAT32, 0, 2,
                                                 NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                                     NPY_ARRAY_FORCECAST);
        if (*held == NULL) {
            return -1;
        }
        metric->params = (const float *)PyArray_DATA(*held);
        metric->n_params = (size_t)PyArray_SIZE(*held);
    }
    umapc_status status = umapc_metric_parse(name, &metric->kind, &err);
    if (status == UMAPC_OK) {
        status = umapc_metric_validate(metric, &err);
    }
    if (status) {
        Py_CLEAR(*held);
        umapc_raise(status, &err);
        return -1;
    }
    return 0;
}

int umapc_metric_arg_obj(PyObject *metric_obj, double p, PyObject *params, umapc_metric *metric,
                         PyArrayObject **held) {
    *held = NULL;
    if (metric_obj == NULL) {
        return umapc_metric_arg("euclidean", p, params, metric, held);
    }
    if (umapc_is_custom(metric_obj)) {
        if ((params != NULL && params != Py_None) || p != 2.0) {
            PyErr_SetString(PyExc_ValueError,
                            "a custom metric takes its parameters itself, not p or params");
            return -1;
        }
        return umapc_custom_metric(metric_obj, metric);
    }
    const char *name = PyUnicode_Check(metric_obj) ? PyUnicode_AsUTF8(metric_obj) : NULL;
    if (name == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "metric must be a name or a CustomMetric, got %.80s",
                         Py_TYPE(metric_obj)->tp_name);
        }
        return -1;
    }
    return umapc_metric_arg(name, p, params, metric, held);
}

/* A C-contiguous int32 array of the given rank from any integer array-like, with values checked to
 * fit (int64 inputs from scikit-learn are common). */
PyArrayObject *umapc_as_int32(PyObject *obj, int ndim, const char *name) {
    PyArrayObject *probe = (PyArrayObject *)PyArray_FROMANY(obj, NPY_NOTYPE, 0, 0, 0);
    if (probe == NULL) {
        return NULL;
    }
    if (!PyTypeNum_ISINTEGER(PyArray_DESCR(probe)->type_num)) {
        PyErr_Format(PyExc_TypeError, "%s must be an integer array", name);
        Py_DECREF(probe);
        return NULL;
    }
    if (PyArray_NDIM(probe) != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d dimension(s), got %d", name, ndim,
                     PyArray_NDIM(probe));
        Py_DECREF(probe);
        return NULL;
    }
    PyArrayObject *wide = (PyArrayObject *)PyArray_FROMANY(
        (PyObject *)probe, NPY_INT64, ndim, ndim, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    Py_DECREF(probe);
    if (wide == NULL) {
        return NULL;
    }
    const int64_t *v = (const int64_t *)PyArray_DATA(wide);
    npy_intp count = PyArray_SIZE(wide);
    for (npy_intp i = 0; i < count; i++) {
        if (v[i] < INT32_MIN || v[i] > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "%s has values outside the int32 range", name);
            Py_DECREF(wide);
            return NULL;
        }
    }
    PyArrayObject *out = (PyArrayObject *)PyArray_FROMANY(
        (PyObject *)wide, NPY_INT32, ndim, ndim,
        NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    Py_DECREF(wide);
    return out;
}

PyArrayObject *umapc_as_float_vector(PyObject *obj, const char *name) {
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(
        obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    if (a == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a 1-D float array", name);
    }
    return a;
}

/* An embedding the C code updates in place: must already be float32, 2-D and C-contiguous. */
PyArrayObject *umapc_as_inplace_embedding(PyObject *obj, const char *name) {
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a numpy array", name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    if (PyArray_TYPE(a) != NPY_FLOAT32 || PyArray_NDIM(a) != 2 || !PyArray_IS_C_CONTIGUOUS(a) ||
        !PyArray_ISWRITEABLE(a)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a writeable C-contiguous float32 array of shape (n, d)", name);
        return NULL;
    }
    if (PyArray_DIM(a, 0) == 0 || PyArray_DIM(a, 1) == 0) {
        PyErr_Format(PyExc_ValueError, "%s is empty", name);
        return NULL;
    }
    Py_INCREF(a);
    return a;
}

void umapc_graph_args_free(umapc_graph_args *g) {
    Py_XDECREF(g->indptr);
    Py_XDECREF(g->indices);
    Py_XDECREF(g->data);
    PyMem_Free(g->offsets);
    memset(g, 0, sizeof *g);
}

/* Converts (indptr, indices, data) of an n_rows x n_cols CSR matrix; structural checks are left
 * to the C library (umapc_graph_validate). */
int umapc_graph_args_parse(umapc_graph_args *g, PyObject *indptr, PyObject *indices, PyObject *data,
                           size_t n_cols) {
    memset(g, 0, sizeof *g);
    g->indptr = umapc_as_int32(indptr, 1, "indptr");
    g->indices = g->indptr ? umapc_as_int32(indices, 1, "indices") : NULL;
    g->data = g->indices ? umapc_as_float_vector(data, "data") : NULL;
    if (g->data == NULL) {
        umapc_graph_args_free(g);
        return -1;
    }
    npy_intp n_ptr = PyArray_DIM(g->indptr, 0), nnz = PyArray_DIM(g->indices, 0);
    if (n_ptr < 1 || PyArray_DIM(g->data, 0) != nnz) {
        PyErr_SetString(PyExc_ValueError,
                        "indptr must have n_rows + 1 entries and data as many as indices");
        umapc_graph_args_free(g);
        return -1;
    }
    g->offsets = PyMem_Malloc((size_t)n_ptr * sizeof *g->offsets);
    if (g->offsets == NULL) {
        PyErr_NoMemory();
        umapc_graph_args_free(g);
        return -1;
    }
    const int32_t *p = (const int32_t *)PyArray_DATA(g->indptr);
    for (npy_intp i = 0; i < n_ptr; i++) {
        g->offsets[i] = p[i];
    }
    g->graph.n_rows = (size_t)(n_ptr - 1);
    g->graph.n_cols = n_cols;
    g->graph.nnz = (size_t)nnz;
    g->graph.indptr = g->offsets;
    g->graph.indices = (umapc_idx *)PyArray_DATA(g->indices);
    g->graph.data = (float *)PyArray_DATA(g->data);
    return 0;
}
