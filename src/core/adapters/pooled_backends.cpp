#include "core/adapters/pooled_backends.h"

#include <memory>
#include <mutex>

#include "core/adapters/client_pool.h"
#include "core/adapters/group_commit.h"
#include "core/adapters/directus/directus_client.h"
#include "core/adapters/postgres/pg_link_store.h"
#include "core/adapters/redis/redis_rate_limiter.h"
#include "core/adapters/mail/mailgun_mailer.h"
#include "core/adapters/mail/sendmail_mailer.h"
#include "core/adapters/mail/smtp_mailer.h"

namespace magic_link {
namespace {

// Each port call borrows a client for that call only: a flow holds at most one connection per
// backend at a time, and only while it talks to that backend.
class PooledRateLimiter final : public RateLimiter {
 public:
  explicit PooledRateLimiter(ClientPool<RedisRateLimiter>& pool) : pool_(pool) {}
  std::vector<LinkRequestVerdict> count_link_requests(
      const std::vector<LinkRequestLimits>& requests) override {
    return pool_.borrow()->count_link_requests(requests);
  }
  LimitVerdict check_redemptions(std::string_view client_key, int limit) override {
    return pool_.borrow()->check_redemptions(client_key, limit);
  }
  void count_failed_redemption(std::string_view client_key) override {
    pool_.borrow()->count_failed_redemption(client_key);
  }
  bool first_use(std::string_view key, std::chrono::seconds remember) override {
    return pool_.borrow()->first_use(key, remember);
  }

 private:
  ClientPool<RedisRateLimiter>& pool_;
};

class PooledLinkStore final : public LinkStore {
 public:
  explicit PooledLinkStore(ClientPool<PgLinkStore>& pool) : pool_(pool) {}
  // Batches arriving together are stored in one transaction (one WAL flush for all).
  void enqueue_link_requests(const std::vector<LinkRequestRecord>& requests) override {
    accepted_.write(requests, [this](const std::vector<const LinkRequestRecord*>& batch) {
      pool_.borrow()->enqueue_link_requests(batch);
    });
  }
  std::vector<RequestOutcome> process_link_requests(int limit) override {
    return pool_.borrow()->process_link_requests(limit);
  }
  std::vector<QueuedMail> claim_due_mail(int limit, Milliseconds lease,
                                         const std::vector<int>& passed_over) override {
    return pool_.borrow()->claim_due_mail(limit, lease, passed_over);
  }
  void release_mail(int link_id) override { pool_.borrow()->release_mail(link_id); }
  void mail_sent(int link_id) override { pool_.borrow()->mail_sent(link_id); }
  void mail_failed(int link_id, const std::string& error,
                   std::optional<Milliseconds> retry_in) override {
    pool_.borrow()->mail_failed(link_id, error, retry_in);
  }
  bool record_delivery_event(int link_id, const DeliveryEvent& event) override {
    return pool_.borrow()->record_delivery_event(link_id, event);
  }
  std::int64_t outbox_depth() override { return pool_.borrow()->outbox_depth(); }
  void delete_old_rows(int retention_days) override {
    pool_.borrow()->delete_old_rows(retention_days);
  }
  std::optional<ClaimedLink> claim_link(const LinkClaim& claim) override {
    return pool_.borrow()->claim_link(claim);
  }
  void release_claim(int link_id, const std::string& session_token) override {
    pool_.borrow()->release_claim(link_id, session_token);
  }
  std::optional<LinkPreview> preview_link(const std::vector<std::string>& token_hashes) override {
    return pool_.borrow()->preview_link(token_hashes);
  }
  std::optional<std::string> user_email(const std::string& user_id) override {
    return pool_.borrow()->user_email(user_id);
  }
  std::optional<SessionOwner> find_session(const std::string& session_token) override {
    return pool_.borrow()->find_session(session_token);
  }

 private:
  ClientPool<PgLinkStore>& pool_;
  GroupCommit<LinkRequestRecord> accepted_;
};

class PooledMailer final : public Mailer {
 public:
  explicit PooledMailer(ClientPool<Mailer>& pool) : pool_(pool) {}
  void send(const MailMessage& mail, int link_id) override { pool_.borrow()->send(mail, link_id); }

 private:
  ClientPool<Mailer>& pool_;
};

class PooledSessionIssuer final : public SessionIssuer {
 public:
  explicit PooledSessionIssuer(ClientPool<DirectusClient>& pool) : pool_(pool) {}
  DirectusSession refresh(const SessionRow& row, SessionMode mode) override {
    return pool_.borrow()->refresh(row, mode);
  }
  void logout(const std::string& cookie, SessionMode mode) override {
    pool_.borrow()->logout(cookie, mode);
  }
  std::string current_user_id(const std::string& access_token) override {
    return pool_.borrow()->current_user_id(access_token);
  }

 private:
  ClientPool<DirectusClient>& pool_;
};

std::unique_ptr<Mailer> make_mailer(const Settings& s) {
  switch (s.mail_transport) {
    case MailTransport::sendmail:
      return std::make_unique<SendmailMailer>(s.sendmail_path, s.smtp_timeout);
    case MailTransport::mailgun:
      return std::make_unique<MailgunMailer>(s.mailgun, s.smtp_timeout);
    case MailTransport::automatic:  // resolved with the settings
    case MailTransport::smtp:
      break;
  }
  return std::make_unique<SmtpMailer>(s.smtp, s.smtp_timeout);
}

// A request finding every client busy waits up to the backend's own timeout.
struct Pools {
  explicit Pools(const Settings& s)
      : redis(
            Backend::redis,
            [&s] { return std::make_unique<RedisRateLimiter>(s.redis, s.redis_timeout); },
            s.backend_connections, s.redis_timeout),
        postgres(
            Backend::postgres,
            [&s] {
              return std::make_unique<PgLinkStore>(s.postgres_conninfo, s.postgres_timeout,
                                                   s.directus_indexes);
            },
            s.backend_connections, s.postgres_timeout),
        mail(
            Backend::mail, [&s] { return make_mailer(s); }, s.backend_connections, s.smtp_timeout),
        directus(
            Backend::directus,
            [&s] {
              return std::make_unique<DirectusClient>(s.directus_url, s.directus_secret,
                                                      s.directus_timeout);
            },
            s.backend_connections, s.directus_timeout),
        limiter(redis),
        store(postgres),
        mailer(mail),
        issuer(directus) {}

  ClientPool<RedisRateLimiter> redis;
  ClientPool<PgLinkStore> postgres;
  ClientPool<Mailer> mail;
  ClientPool<DirectusClient> directus;
  PooledRateLimiter limiter;
  PooledLinkStore store;
  PooledMailer mailer;
  PooledSessionIssuer issuer;
};

std::mutex pools_mutex;
std::unique_ptr<Pools> pools;  // one per worker process: its http-level settings never change

Pools& pools_for(const Settings& shared) {
  std::lock_guard<std::mutex> lock(pools_mutex);
  if (!pools) pools = std::make_unique<Pools>(shared);
  return *pools;
}

}  // namespace

Backends pooled_backends(const Settings& shared) {
  Pools& p = pools_for(shared);
  return {p.limiter, p.store, p.mailer, p.issuer};
}

void close_idle_connections(const Settings& shared) {
  Pools& p = pools_for(shared);
  p.redis.close_idle(shared.backend_idle_timeout);
  p.postgres.close_idle(shared.backend_idle_timeout);
  p.mail.close_idle(shared.backend_idle_timeout);
  p.directus.close_idle(shared.backend_idle_timeout);
}

}  // namespace magic_link
