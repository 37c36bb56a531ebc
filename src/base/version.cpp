#include "refusal/version.h"

namespace refusal {

const char* version() { return REFUSAL_VERSION; }

}  // namespace refusal
