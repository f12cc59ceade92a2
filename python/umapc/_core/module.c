#define UMAPC_CORE_MODULE_C
#include "core.h"

static PyObject *core_version(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyUnicode_FromString(umapc_version());
}

static PyObject *core_simd_level(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyUnicode_FromString(umapc_simd_level());
}

static PyObject *core_usable_cpus(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyLong_FromLong(umapc_usable_cpus());
}

PyObject *umapc_CorruptIndexError = NULL;

static PyMethodDef base_methods[] = {
    {"usable_cpus", core_usable_cpus, METH_NOARGS,
     "CPUs this process may use (affinity mask, capped by a cgroup CPU quota)."},
    {"version", core_version, METH_NOARGS, "Version of the C library."},
    {"simd_level", core_simd_level, METH_NOARGS,
     "SIMD level the kernels use in this process (see umapc.simd_level)."},
    {NULL, NULL, 0, NULL},
};

static size_t count_methods(const PyMethodDef *table) {
    size_t n = 0;
    while (table[n].ml_name != NULL) {
        n++;
    }
    return n;
}

/* The joined table must outlive the module, so it lives in static storage; it is written once at
 * import, before any other code can see it. */
static PyMethodDef all_methods[256];

static int join_method_tables(void) {
    const PyMethodDef *tables[] = {
        base_methods,        umapc_metric_methods,    umapc_index_methods,  umapc_umap_methods,
        umapc_exact_methods, umapc_nndescent_methods, umapc_sparse_methods, umapc_aligned_methods};
    size_t used = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        size_t n = count_methods(tables[t]);
        if (used + n + 1 > sizeof all_methods / sizeof all_methods[0]) {
            PyErr_SetString(PyExc_RuntimeError, "umapc._core: too many methods");
            return -1;
        }
        memcpy(&all_methods[used], tables[t], n * sizeof(PyMethodDef));
        used += n;
    }
    memset(&all_methods[used], 0, sizeof(PyMethodDef));
    return 0;
}

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "_core",
    "umapc's C core: thin bindings over the C library.",
    -1,
    all_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__core(void) {
    import_array();
    if (join_method_tables() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&core_module);
    if (module == NULL) {
        return NULL;
    }
    if (umapc_index_register(module) < 0 || umapc_custom_register(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    /* Bad file content is a ValueError; it is an OSError too because earlier versions raised
     * OSError for it (io.UnsupportedOperation combines the two the same way). */
    PyObject *bases = PyTuple_Pack(2, PyExc_ValueError, PyExc_OSError);
    umapc_CorruptIndexError =
        bases == NULL ? NULL
                      : PyErr_NewExceptionWithDoc(
                            "umapc.CorruptIndexError",
                            "A malformed, truncated, corrupt or incompatible index file or pickled "
                            "state (a ValueError; also an OSError for compatibility).",
                            bases, NULL);
    Py_XDECREF(bases);
    if (umapc_CorruptIndexError == NULL) {
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(umapc_CorruptIndexError); /* the module's reference; the global keeps its own */
    if (PyModule_AddObject(module, "CorruptIndexError", umapc_CorruptIndexError) < 0) {
        Py_DECREF(umapc_CorruptIndexError);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
