#include "nginx/session_cache.h"

#include <string_view>

#include "core/input/text_list.h"
#include "nginx/shared_map.h"

namespace magic_link::ngx {
namespace {

SharedMap sessions;

// A KnownSession as text: "live active expires_at" and the owner's fields, one per line (no
// field Directus stores holds a newline).
std::string encode(const KnownSession& session) {
  const SessionOwner& owner = session.owner;
  return join_list({std::to_string(session.live) + " " + std::to_string(owner.active) + " " +
                        std::to_string(session.expires_at),
                    owner.user_id, owner.email, owner.role, join_list(owner.role_chain, ',')},
                   '\n');
}

std::optional<KnownSession> decode(const std::string& text) {
  const std::vector<std::string> fields = split_list(text, '\n');
  if (fields.size() != 5) return std::nullopt;
  KnownSession session;
  int live = 0, active = 0;
  long long expires_at = 0;
  if (std::sscanf(fields[0].c_str(), "%d %d %lld", &live, &active, &expires_at) != 3) {
    return std::nullopt;
  }
  session.live = live != 0;
  session.expires_at = static_cast<std::time_t>(expires_at);
  session.owner = {fields[1], fields[2], fields[3], split_list(fields[4], ','), active != 0};
  return session;
}

}  // namespace

ngx_int_t add_session_cache(ngx_conf_t* cf, size_t size) {
  return sessions.add(cf, "magic_link_sessions", size);
}

std::optional<KnownSession> cached_session(const std::string& key, ngx_msec_t max_age) {
  const auto text = sessions.get(key, max_age);
  return text ? decode(*text) : std::nullopt;
}

void remember_session(const std::string& key, const KnownSession& session, ngx_log_t* log) {
  sessions.put(key, encode(session), log);
}

void forget_session(const std::string& key) {
  sessions.erase(key);
}

}  // namespace magic_link::ngx
