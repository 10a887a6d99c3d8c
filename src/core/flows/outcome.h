// What a flow produced: the answer, and the lines the server should log about it.
#pragma once

#include <string>
#include <vector>

#include "core/render/response.h"

namespace magic_link {

struct LogLine {
  enum class Level { info, warn, error } level;
  std::string text;  // never a token, secret, password or email address
};

struct Outcome {
  Response response;
  std::vector<LogLine> log;
  bool work_queued = false;  // a request or mail waits in the database: wake the background task
};

}  // namespace magic_link
