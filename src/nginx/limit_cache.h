// Clients over their per-client limit, remembered in shared memory until their window ends, so a
// flood is refused on the event loop and Redis is asked once per client per window (each host
// asks it once: the limits stay exact across hosts).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "nginx/ngx.h"

namespace magic_link::ngx {

// Adds the zone "magic_link_limits" (1 MB: about 8,000 clients; the least recently refused go
// first, and are then asked about in Redis again); once, from postconfiguration.
ngx_int_t add_limit_cache(ngx_conf_t* cf);

// How long `client` (limit_key and the limit it was refused under) is still refused.
std::optional<std::chrono::seconds> still_refused(const std::string& client);

void remember_refusal(const std::string& client, std::chrono::seconds refused_for, ngx_log_t* log);

}  // namespace magic_link::ngx
