#include "core/adapters/thread_clients.h"

#include "core/adapters/directus/directus_client.h"
#include "core/adapters/postgres/pg_link_store.h"
#include "core/adapters/redis/redis_rate_limiter.h"
#include "core/adapters/smtp/smtp_mailer.h"

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
