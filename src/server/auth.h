// The one API-key check of every route that needs one (the route table says which): an
// `Authorization: Bearer KEY` header against the configured keys, in constant time.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace refusal::server {

// How an Authorization header compares with the configured keys. Each API reports the
// failures in its own shape (routes.h: ApiShape::auth_failure).
enum class AuthResult {
  kOk,           // no keys configured, or one of them given
  kMissing,      // no header, or a scheme with nothing after it (FastAPI: "Not authenticated")
  kWrongScheme,  // not Bearer (case-insensitive, as FastAPI's HTTPBearer)
  kWrongKey,
};

// FastAPI's HTTPBearer reading of `authorization` ("scheme credentials", split at the first
// space), then the credentials against every key with constant_time_equal: every key is
// compared, whichever matches.
AuthResult check_bearer(std::string_view authorization, std::span<const std::string> keys);

// a == b in a time that depends on a's length only: every byte of `given` is compared (the
// key's bytes repeat when it is shorter) and nothing stops early, so neither the key's bytes
// nor its length show in the time.
bool constant_time_equal(std::string_view given, std::string_view key);

}  // namespace refusal::server
