// A backend call that failed: which backend, which step, whether trying again may help. Adapters
// throw it; flows catch it at their boundary and return it as a BackendFailure in their result.
#pragma once

#include <stdexcept>
#include <string>

namespace magic_link {

enum class Backend { redis, postgres, mail, directus };  // mail: the configured transport

const char* backend_name(Backend backend);

struct BackendFailure {
  Backend backend = Backend::postgres;
  std::string step;    // the call: "enqueue", "claim", "count_link_request", "refresh", ...
  std::string detail;  // what the library said; never a token, secret or address
  bool timed_out = false;
  bool retryable = true;  // a later try may succeed (down, slow); false: a bug or a bad answer

  // 502 (Directus answered badly), 504 (Directus too slow), else 503.
  int http_status() const;
  // The one shape of a failure's log line: "magic_link: {endpoint} failed: {backend}
  // unavailable: {step}: {detail}{consequence}".
  std::string log_line(const std::string& endpoint, const std::string& consequence = {}) const;
};

class BackendError : public std::runtime_error {
 public:
  // Counted as a failure of `backend` in the status page's metrics.
  BackendError(Backend backend, std::string step, const std::string& detail, bool timed_out = false,
               bool retryable = true);
  const BackendFailure& failure() const { return failure_; }
  Backend backend() const { return failure_.backend; }
  bool timed_out() const { return failure_.timed_out; }

 private:
  BackendFailure failure_;
};

}  // namespace magic_link
