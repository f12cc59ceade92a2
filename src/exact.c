/* placeholder: being written */
#include "internal.h"

typedef int umapc_placeholder_exact;
