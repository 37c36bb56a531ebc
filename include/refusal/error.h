// Errors that the library reports to its callers.
#pragma once

#include <stdexcept>
#include <string>

namespace refusal {

// Every error the library raises: a message that says what went wrong and where (file, field,
// tensor, line or byte offset). Front ends print it as is. The message is always valid UTF-8
// (bytes of a bad file quoted in it are repaired, each bad sequence to U+FFFD), so it can go
// into JSON or a Python str unchanged.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what);
  explicit Error(const char* what);
};

}  // namespace refusal
