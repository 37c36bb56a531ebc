#include "server/auth.h"

#include <cctype>

namespace refusal::server {

bool constant_time_equal(std::string_view given, std::string_view key) {
  unsigned diff = given.size() != key.size() ? 1u : 0u;
  for (std::size_t i = 0; i < given.size(); ++i) {
    const unsigned char k = key.empty() ? 0 : static_cast<unsigned char>(key[i % key.size()]);
    diff |= static_cast<unsigned char>(given[i]) ^ k;
  }
  return diff == 0;
}

AuthResult check_bearer(std::string_view authorization, std::span<const std::string> keys) {
  if (keys.empty()) return AuthResult::kOk;
  const auto space = authorization.find(' ');
  const std::string_view scheme = authorization.substr(0, space);
  const std::string_view credentials =
      space == std::string_view::npos ? std::string_view() : authorization.substr(space + 1);
  if (scheme.empty() || credentials.empty()) return AuthResult::kMissing;
  constexpr std::string_view kBearer = "bearer";
  bool bearer = scheme.size() == kBearer.size();
  for (std::size_t i = 0; bearer && i < scheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(scheme[i])) == kBearer[i];
  }
  if (!bearer) return AuthResult::kWrongScheme;
  bool ok = false;
  for (const std::string& key : keys) ok = constant_time_equal(credentials, key) || ok;
  return ok ? AuthResult::kOk : AuthResult::kWrongKey;
}

}  // namespace refusal::server
