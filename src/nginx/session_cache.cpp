#include "nginx/session_cache.h"

#include <string_view>

#include "nginx/shared_map.h"

namespace magic_link::ngx {
namespace {

SharedMap sessions;

// A KnownSession as text: "live active expires_at" and the owner's fields, one per line (no
// field Directus stores holds a newline).
std::string encode(const KnownSession& session) {
  const SessionOwner& owner = session.owner;
  std::string chain;
  for (const auto& role : owner.role_chain) chain += (chain.empty() ? "" : ",") + role;
  return std::to_string(session.live) + " " + std::to_string(owner.active) + " " +
         std::to_string(session.expires_at) + "\n" + owner.user_id + "\n" + owner.email + "\n" +
         owner.role + "\n" + chain;
}

std::vector<std::string> lines(std::string_view text, char separator) {
  std::vector<std::string> items;
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find(separator, start), text.size());
    items.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

std::optional<KnownSession> decode(const std::string& text) {
  const std::vector<std::string> fields = lines(text, '\n');
  if (fields.size() != 5) return std::nullopt;
  KnownSession session;
  int live = 0, active = 0;
  long long expires_at = 0;
  if (std::sscanf(fields[0].c_str(), "%d %d %lld", &live, &active, &expires_at) != 3) {
    return std::nullopt;
  }
  session.live = live != 0;
  session.expires_at = static_cast<std::time_t>(expires_at);
  session.owner = {fields[1], fields[2], fields[3],
                   fields[4].empty() ? std::vector<std::string>{} : lines(fields[4], ','),
                   active != 0};
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
