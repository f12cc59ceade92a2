/* umapc._core.CustomMetric: a caller's metric for the C library's UMAPC_METRIC_CUSTOM and
 * UMAPC_OUTPUT_CUSTOM. Two kinds of function sit behind it:
 *   - a compiled C function (a numba cfunc's address) taking (a, b, dim), or (x, y, grad, dim) for
 *     an output metric: called straight from the library's threads, without the GIL;
 *   - a Python callable: each call takes the GIL (PyGILState_Ensure works from the OpenMP
 *     threads, the binding having released it), so the threads run it one at a time.
 * Neither kind can raise through the library, so the first failure (a Python exception, a NaN, a
 * wrong result) is kept here, every later call returns 0 at once so the computation ends quickly,
 * and the binding raises it once the library returns (umapc_custom_check). */
#include "core.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>

typedef float (*distance_cfunc)(const float *a, const float *b, int64_t dim);
typedef float (*gradient_cfunc)(const float *x, const float *y, float *grad, int64_t dim);

typedef struct {
    PyObject_HEAD
        /* The Python callable, or (with a C function) the object that owns the function's code. */
        PyObject *function;
    PyObject *args;    /* tuple: extra positional arguments after the two rows */
    uintptr_t address; /* the C function, 0 for a Python callable (an integer: ISO C has no
                        * conversion between object and function pointers) */
    int output;        /* an output metric: returns (distance, gradient) */
    atomic_int failed;
    /* The first failure: a Python exception (taken under the GIL) or, from a C function, a
     * message (written by the one thread that set failed, read after the library's threads have
     * joined). */
    PyObject *exc_type, *exc_value, *exc_tb;
    char problem[200];
} CustomObject;

static PyTypeObject CustomType;

/* Marks the failure; only the first caller gets 1 and records it. */
static int claim_failure(CustomObject *m) {
    int expected = 0;
    return atomic_compare_exchange_strong(&m->failed, &expected, 1);
}

static void fail_message(CustomObject *m, const char *what) {
    if (claim_failure(m)) {
        snprintf(m->problem, sizeof m->problem, "the custom %smetric %s",
                 m->output ? "output " : "", what);
    }
}

/* Under the GIL: keeps the pending exception as the first failure, or drops it. */
static void fail_exception(CustomObject *m) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (claim_failure(m)) {
        m->exc_type = type;
        m->exc_value = value;
        m->exc_tb = tb;
    } else {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
    }
}

static PyObject *row_view(const float *row, int64_t dim) {
    npy_intp n = (npy_intp)dim;
    PyObject *a = PyArray_SimpleNewFromData(1, &n, NPY_FLOAT32, (void *)row);
    if (a != NULL) {
        PyArray_CLEARFLAGS((PyArrayObject *)a, NPY_ARRAY_WRITEABLE); /* the library's rows */
    }
    return a;
}

/* function(x, y, *args) under the GIL; NULL with the exception pending. */
static PyObject *call_python(CustomObject *m, const float *x, const float *y, int64_t dim) {
    Py_ssize_t extra = PyTuple_GET_SIZE(m->args);
    PyObject *call_args = PyTuple_New(2 + extra);
    if (call_args == NULL) {
        return NULL;
    }
    PyObject *xa = row_view(x, dim);
    PyObject *ya = xa != NULL ? row_view(y, dim) : NULL;
    if (ya == NULL) {
        Py_XDECREF(xa);
        Py_DECREF(call_args);
        return NULL;
    }
    PyTuple_SET_ITEM(call_args, 0, xa);
    PyTuple_SET_ITEM(call_args, 1, ya);
    for (Py_ssize_t i = 0; i < extra; i++) {
        PyObject *v = PyTuple_GET_ITEM(m->args, i);
        Py_INCREF(v);
        PyTuple_SET_ITEM(call_args, 2 + i, v);
    }
    PyObject *result = PyObject_Call(m->function, call_args, NULL);
    Py_DECREF(call_args);
    return result;
}

/* A Python or numpy number (a 0-d array too) as a distance; -1 with TypeError set otherwise. */
static int as_distance(CustomObject *m, PyObject *obj, double *out) {
    int number = PyFloat_Check(obj) || PyLong_Check(obj) || PyArray_IsScalar(obj, Number) ||
                 (PyArray_Check(obj) && PyArray_NDIM((PyArrayObject *)obj) == 0);
    if (!number) {
        PyErr_Format(PyExc_TypeError, "the custom %smetric must return %s, got %.80s",
                     m->output ? "output " : "",
                     m->output ? "a (distance, gradient) pair" : "a float distance",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = PyFloat_AsDouble(obj);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static float python_distance(CustomObject *m, const float *x, const float *y, float *grad,
                             int64_t dim) {
    PyGILState_STATE gil = PyGILState_Ensure();
    double d = 0.0;
    if (!atomic_load_explicit(&m->failed, memory_order_relaxed)) {
        PyObject *result = call_python(m, x, y, dim);
        int ok = result != NULL;
        if (ok && m->output) {
            PyObject *g = NULL;
            if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 2) {
                PyErr_Format(PyExc_TypeError,
                             "the custom output metric must return a (distance, gradient) pair, "
                             "got %.80s",
                             Py_TYPE(result)->tp_name);
                ok = 0;
            } else if (as_distance(m, PyTuple_GET_ITEM(result, 0), &d) < 0) {
                ok = 0;
            } else {
                g = PyArray_FROMANY(PyTuple_GET_ITEM(result, 1), NPY_FLOAT32, 1, 1,
                                    NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED |
                                        NPY_ARRAY_FORCECAST);
                if (g == NULL || PyArray_SIZE((PyArrayObject *)g) != (npy_intp)dim) {
                    if (g != NULL) {
                        PyErr_Format(PyExc_ValueError,
                                     "the custom output metric's gradient has %zd entries, the "
                                     "embedding %zd dimensions",
                                     (Py_ssize_t)PyArray_SIZE((PyArrayObject *)g), (Py_ssize_t)dim);
                    }
                    ok = 0;
                } else {
                    memcpy(grad, PyArray_DATA((PyArrayObject *)g), (size_t)dim * sizeof *grad);
                }
            }
            Py_XDECREF(g);
        } else if (ok && as_distance(m, result, &d) < 0) {
            ok = 0;
        }
        Py_XDECREF(result);
        if (!ok) {
            fail_exception(m);
            d = 0.0;
        }
    }
    PyGILState_Release(gil);
    return (float)d;
}

static float custom_distance(const float *a, const float *b, int64_t dim, void *ctx) {
    CustomObject *m = ctx;
    if (atomic_load_explicit(&m->failed, memory_order_relaxed)) {
        return 0.0f;
    }
    float d = m->address != 0 ? ((distance_cfunc)m->address)(a, b, dim)
                              : python_distance(m, a, b, NULL, dim);
    if (isnan(d)) {
        fail_message(m, "returned NaN for a pair of rows");
        return 0.0f;
    }
    return d;
}

static float custom_gradient(const float *x, const float *y, float *grad, int64_t dim, void *ctx) {
    CustomObject *m = ctx;
    if (!atomic_load_explicit(&m->failed, memory_order_relaxed)) {
        float d = m->address != 0 ? ((gradient_cfunc)m->address)(x, y, grad, dim)
                                  : python_distance(m, x, y, grad, dim);
        /* a failed Python call wrote no gradient */
        int bad = atomic_load_explicit(&m->failed, memory_order_relaxed) || !isfinite(d);
        for (int64_t i = 0; i < dim && !bad; i++) {
            bad = !isfinite(grad[i]);
        }
        if (!bad) {
            return d;
        }
        fail_message(m, "returned a non-finite distance or gradient");
    }
    for (int64_t i = 0; i < dim; i++) {
        grad[i] = 0.0f; /* no move */
    }
    return 0.0f;
}

static void custom_clear_failure(CustomObject *m) {
    Py_CLEAR(m->exc_type);
    Py_CLEAR(m->exc_value);
    Py_CLEAR(m->exc_tb);
    m->problem[0] = '\0';
    atomic_store(&m->failed, 0);
}

int umapc_custom_check(void *ctx) {
    CustomObject *m = ctx;
    if (m == NULL || !atomic_load(&m->failed)) {
        return 0;
    }
    if (m->exc_type != NULL) {
        PyErr_Restore(m->exc_type, m->exc_value, m->exc_tb); /* steals them */
        m->exc_type = m->exc_value = m->exc_tb = NULL;
    } else {
        PyErr_SetString(PyExc_ValueError, m->problem[0] ? m->problem : "the custom metric failed");
    }
    custom_clear_failure(m);
    return 1;
}

int umapc_is_custom(PyObject *obj) {
    return PyObject_TypeCheck(obj, &CustomType);
}

int umapc_custom_metric(PyObject *obj, umapc_metric *metric) {
    CustomObject *m = (CustomObject *)obj;
    if (m->output) {
        PyErr_SetString(PyExc_TypeError,
                        "an output metric (returning distance and gradient) was given as a metric");
        return -1;
    }
    umapc_metric_init(metric);
    metric->kind = UMAPC_METRIC_CUSTOM;
    metric->fn = custom_distance;
    metric->ctx = m;
    return 0;
}

int umapc_custom_output(PyObject *obj, umapc_layout_options *opts) {
    if (!umapc_is_custom(obj) || !((CustomObject *)obj)->output) {
        PyErr_SetString(PyExc_TypeError,
                        "output_custom must be a CustomMetric made with output=True");
        return -1;
    }
    opts->output_metric = UMAPC_OUTPUT_CUSTOM;
    opts->output_fn = custom_gradient;
    opts->output_ctx = obj;
    return 0;
}

/* CustomMetric(function, address=0, args=(), output=False) */
static PyObject *custom_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"function", "address", "args", "output", NULL};
    PyObject *function = NULL, *extra = NULL;
    unsigned long long address = 0;
    int output = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|KO!p:CustomMetric", kwlist, &function,
                                     &address, &PyTuple_Type, &extra, &output)) {
        return NULL;
    }
    if (address == 0 && !PyCallable_Check(function)) {
        PyErr_SetString(PyExc_TypeError, "CustomMetric needs a callable or a C function address");
        return NULL;
    }
    CustomObject *self = (CustomObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(function);
    self->function = function;
    self->args = extra != NULL ? extra : PyTuple_New(0);
    if (extra != NULL) {
        Py_INCREF(extra);
    }
    if (self->args == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->address = (uintptr_t)address;
    self->output = output;
    atomic_init(&self->failed, 0);
    return (PyObject *)self;
}

static void custom_dealloc(CustomObject *self) {
    Py_XDECREF(self->function);
    Py_XDECREF(self->args);
    Py_XDECREF(self->exc_type);
    Py_XDECREF(self->exc_value);
    Py_XDECREF(self->exc_tb);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *custom_get_output(CustomObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(self->output);
}

static PyObject *custom_get_compiled(CustomObject *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(self->address != 0);
}

static PyObject *custom_distance_py(CustomObject *self, PyObject *args) {
    PyObject *x_obj, *y_obj;
    if (!PyArg_ParseTuple(args, "OO", &x_obj, &y_obj)) {
        return NULL;
    }
    PyArrayObject *x = (PyArrayObject *)PyArray_FROMANY(
        x_obj, NPY_FLOAT32, 1, 1, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    PyArrayObject *y = x == NULL
                           ? NULL
                           : (PyArrayObject *)PyArray_FROMANY(
                                 y_obj, NPY_FLOAT32, 1, 1,
                                 NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    PyObject *result = NULL;
    if (y != NULL && PyArray_SIZE(x) != PyArray_SIZE(y)) {
        PyErr_SetString(PyExc_ValueError, "x and y must have the same length");
    } else if (y != NULL) {
        int64_t dim = (int64_t)PyArray_SIZE(x);
        const float *a = PyArray_DATA(x), *b = PyArray_DATA(y);
        if (self->output) {
            npy_intp n = (npy_intp)dim;
            PyObject *grad = PyArray_ZEROS(1, &n, NPY_FLOAT32, 0);
            if (grad != NULL) {
                float d =
                    custom_gradient(a, b, (float *)PyArray_DATA((PyArrayObject *)grad), dim, self);
                result = umapc_custom_check(self) ? NULL : Py_BuildValue("(dN)", (double)d, grad);
                if (result == NULL) {
                    Py_DECREF(grad);
                }
            }
        } else {
            float d = custom_distance(a, b, dim, self);
            result = umapc_custom_check(self) ? NULL : PyFloat_FromDouble((double)d);
        }
    }
    Py_XDECREF(x);
    Py_XDECREF(y);
    return result;
}

static PyMethodDef custom_type_methods[] = {
    {"distance", (PyCFunction)custom_distance_py, METH_VARARGS,
     "distance(x, y) -> float, or (float, gradient) for an output metric: one call as the library "
     "makes it (float32 rows), raising what the library's call would."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef custom_getset[] = {
    {"output", (getter)custom_get_output, NULL, "True for an output metric (distance, gradient)",
     NULL},
    {"compiled", (getter)custom_get_compiled, NULL,
     "True when a C function (numba cfunc) is called, without the GIL", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CustomType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "umapc._core.CustomMetric",
    .tp_basicsize = sizeof(CustomObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "CustomMetric(function, address=0, args=(), output=False): a caller's metric for the "
              "C library. address: a C function float(const float *a, const float *b, int64 dim) "
              "(output: float(const float *x, const float *y, float *grad, int64 dim)) that "
              "function keeps alive; 0: function is a Python callable function(x, y, *args), "
              "called with the GIL held.",
    .tp_new = custom_new,
    .tp_dealloc = (destructor)custom_dealloc,
    .tp_methods = custom_type_methods,
    .tp_getset = custom_getset,
};

int umapc_custom_register(PyObject *module) {
    if (PyType_Ready(&CustomType) < 0) {
        return -1;
    }
    Py_INCREF(&CustomType);
    if (PyModule_AddObject(module, "CustomMetric", (PyObject *)&CustomType) < 0) {
        Py_DECREF(&CustomType);
        return -1;
    }
    return 0;
}
