/* umapc: UMAP stage 'spectral' (API being written). */
#ifndef UMAPC_SPECTRAL_H
#define UMAPC_SPECTRAL_H

#include "common.h"

#endif
