#include "refusal/error.h"

#include "base/utf8.h"

namespace refusal {

Error::Error(const std::string& what) : std::runtime_error(base::repair_utf8(what)) {}
Error::Error(const char* what) : Error(std::string(what)) {}

}  // namespace refusal
