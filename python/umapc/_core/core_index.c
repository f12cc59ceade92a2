#include "core.h"

PyMethodDef umapc_index_methods[] = {
    {NULL, NULL, 0, NULL},
};

int umapc_index_register(PyObject *module) {
    (void)module;
    return 0;
}
