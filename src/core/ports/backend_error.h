// A backend (Redis, PostgreSQL, SMTP, Directus) that failed or did not answer in time.
#pragma once

#include <stdexcept>
#include <string>

namespace magic_link {

class BackendError : public std::runtime_error {
 public:
  BackendError(std::string backend, const std::string& what, bool timed_out = false)
      : std::runtime_error(what), backend_(std::move(backend)), timed_out_(timed_out) {}
  const std::string& backend() const { return backend_; }
  bool timed_out() const { return timed_out_; }

 private:
  std::string backend_;
  bool timed_out_;
};

}  // namespace magic_link
