// What a flow produced: the answer, or the backend failure that kept it from one, and the lines
// the server should log about it. No exception leaves a flow: backend failures are values.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/ports/backend_error.h"
#include "core/render/response.h"

namespace magic_link {

struct LogLine {
  enum class Level { info, warn, error } level;
  std::string text;  // never a token, secret, password or email address
};

struct Outcome {
  Response response;  // unused when `failure` is set
  std::vector<LogLine> log;
  bool work_queued = false;  // a request or mail waits in the database: wake the background task
  // The server answers it in the location's language (JSON or a page): unavailable_response.
  std::optional<BackendFailure> failure = std::nullopt;
  // A client found over its per-client limit (its refusal key) and for how long: the server
  // refuses it from memory until then, without asking Redis again.
  std::string refused_client = {};
  std::chrono::seconds refused_for{0};
};

// The outcome of `endpoint` when a backend failed, with the one log line of that shape.
inline Outcome unavailable(const BackendFailure& failure, const std::string& endpoint,
                           const std::string& consequence = {}) {
  Outcome outcome;
  outcome.log.push_back({LogLine::Level::error, failure.log_line(endpoint, consequence)});
  outcome.failure = failure;
  return outcome;
}

}  // namespace magic_link
