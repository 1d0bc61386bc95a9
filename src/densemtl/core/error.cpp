#include "densemtl/core/error.h"
