/* placeholder: being written */
#include "internal.h"

const char *umapc_simd_level(void) {
    return "scalar";
}
