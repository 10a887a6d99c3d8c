#include "nginx/limit_cache.h"

#include "nginx/shared_map.h"

namespace magic_link::ngx {
namespace {

constexpr size_t kZoneSize = 1024 * 1024;
SharedMap refusals;  // client -> the time (ngx_time) its refusal ends

}  // namespace

ngx_int_t add_limit_cache(ngx_conf_t* cf) {
  return refusals.add(cf, "magic_link_limits", kZoneSize);
}

std::optional<std::chrono::seconds> still_refused(const std::string& client) {
  const auto until = refusals.get(client, NGX_MAX_INT32_VALUE);
  if (!until) return std::nullopt;
  const long long left = std::atoll(until->c_str()) - static_cast<long long>(ngx_time());
  if (left <= 0) {
    refusals.erase(client);
    return std::nullopt;
  }
  return std::chrono::seconds(left);
}

void remember_refusal(const std::string& client, std::chrono::seconds refused_for, ngx_log_t* log) {
  refusals.put(client, std::to_string(static_cast<long long>(ngx_time()) + refused_for.count()),
               log);
}

}  // namespace magic_link::ngx
