#include "core/ports/backend_error.h"

#include "core/metrics/metrics.h"

namespace magic_link {

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::redis:
      return "redis";
    case Backend::postgres:
      return "postgres";
    case Backend::mail:
      return "mail";
    case Backend::directus:
      return "directus";
  }
  return "backend";
}

BackendError::BackendError(Backend backend, std::string step, const std::string& detail,
                           bool timed_out, bool retryable)
    : std::runtime_error(detail), failure_{backend, std::move(step), detail, timed_out, retryable} {
  metrics::count_backend_failure(backend);
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
