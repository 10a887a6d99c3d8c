// Sessions the gate has checked, in one shared memory zone for all workers (a SharedMap keyed
// by the cookie's hash). Touched on the event loop only.
#pragma once

#include <optional>
#include <string>

#include "core/flows/gate.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

// Adds the zone (`size` bytes) to the configuration; once, from postconfiguration.
ngx_int_t add_session_cache(ngx_conf_t* cf, size_t size);

// What was learnt of the session cookie `key` (session_cache_key) at most `max_age` ago;
// nothing when it must be looked at.
std::optional<KnownSession> cached_session(const std::string& key, ngx_msec_t max_age);

// Remembers what a check found (a session that is gone is remembered too, so a stale cookie
// costs one lookup per interval, not one per request).
void remember_session(const std::string& key, const KnownSession& session, ngx_log_t* log);

// Forgets `key` at once (sign-out on this host).
void forget_session(const std::string& key);

}  // namespace magic_link::ngx
