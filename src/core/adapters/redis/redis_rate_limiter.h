// The RateLimiter in Redis: atomic Lua scripts, one round trip per check.
#pragma once

#include <vector>

#include "core/config/settings.h"
#include "core/ports/rate_limiter.h"

struct redisContext;

namespace magic_link {

// hiredis, synchronous with a hard timeout on connect and on every command; reconnects after an
// error. One per pooled connection. Throws BackendError(Backend::redis, ...) when Redis fails or is
// slow.
class RedisRateLimiter final : public RateLimiter {
 public:
  RedisRateLimiter(RedisAddress address, Milliseconds timeout);
  ~RedisRateLimiter() override;

  std::vector<LinkRequestVerdict> count_link_requests(
      const std::vector<LinkRequestLimits>& requests) override;
  LimitVerdict check_redemptions(std::string_view client_key, int limit) override;
  void count_failed_redemption(std::string_view client_key) override;
  bool first_use(std::string_view key, std::chrono::seconds remember) override;

 private:
  struct Reply;
  Reply script(const char* step, const std::string& sha, const std::string& source,
               const std::vector<std::string>& keys, const std::vector<std::string>& args);
  void connect();
  void drop();

  RedisAddress address_;
  Milliseconds timeout_;
  redisContext* context_ = nullptr;
};

}  // namespace magic_link
