// Rate limits shared by every nginx node: fixed hourly windows of counters in Redis.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/settings.h"

namespace magic_link {

struct LimitVerdict {
  bool allowed = true;
  std::chrono::seconds retry_after{0};  // until the window ends, when refused
};

struct LinkRequestVerdict {
  LimitVerdict client;
  LimitVerdict email;  // not counted when the client was refused
};

// One link request's counters and their limits.
struct LinkRequestLimits {
  std::string client_key;
  int client_limit = 0;
  std::string email_key;
  int email_limit = 0;
};

// Keys are opaque (hashed by the caller), so Redis never holds an address or an email.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Counts each link request against its client and, if the client is within its limit, its
  // email, in order and in one round trip; verdict i answers request i.
  virtual std::vector<LinkRequestVerdict> count_link_requests(
      const std::vector<LinkRequestLimits>& requests) = 0;
  // Whether the client may try another redemption: failures so far are under the limit.
  virtual LimitVerdict check_redemptions(std::string_view client_key, int limit) = 0;
  virtual void count_failed_redemption(std::string_view client_key) = 0;
  // True the first time `key` is used within `remember` (a one-time password), false after.
  virtual bool first_use(std::string_view key, std::chrono::seconds remember) = 0;
};

}  // namespace magic_link
