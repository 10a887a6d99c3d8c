#include "core/backends.h"

#include <memory>

namespace magic_link {
namespace {

struct ThreadClients {
  explicit ThreadClients(const Settings& s)
      : settings(&s),
        limiter(s.redis, s.redis_timeout),
        store(s.postgres_conninfo, s.postgres_timeout),
        mailer(s.smtp, s.smtp_timeout),
        directus(s.directus_url, s.directus_timeout) {}

  const Settings* settings;
  RedisRateLimiter limiter;
  PgLinkStore store;
  SmtpMailer mailer;
  DirectusClient directus;
};

thread_local std::unique_ptr<ThreadClients> clients;

}  // namespace

Backends thread_backends(const Settings& shared) {
  if (!clients || clients->settings != &shared) clients = std::make_unique<ThreadClients>(shared);
  return {clients->limiter, clients->store, clients->mailer, clients->directus};
}

}  // namespace magic_link
