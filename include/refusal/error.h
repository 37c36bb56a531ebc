// Errors that the library reports to its callers.
#pragma once

#include <stdexcept>
#include <string>

namespace refusal {

// Every error the library raises: a message that says what went wrong and where (file, field,
// tensor, line or byte offset). Front ends print it as is.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace refusal
