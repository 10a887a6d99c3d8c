#include "core/ports/backend_error.h"

namespace magic_link {

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::redis:
      return "redis";
    case Backend::postgres:
      return "postgres";
    case Backend::smtp:
      return "smtp";
    case Backend::directus:
      return "directus";
  }
  return "backend";
}

int BackendFailure::http_status() const {
  if (backend != Backend::directus) return 503;
  return timed_out ? 504 : 502;
}

std::string BackendFailure::log_line(const std::string& endpoint,
                                     const std::string& consequence) const {
  return "magic_link: " + endpoint + " failed: " + backend_name(backend) + " unavailable: " + step +
         ": " + detail + consequence;
}

}  // namespace magic_link
