// The LinkStore in Directus' PostgreSQL: the extension's table, an outbox and the pending
// requests, with the functions that keep each step one round trip.
#pragma once

#include "core/adapters/postgres/connection.h"
#include "core/ports/link_store.h"

namespace magic_link {

class PgLinkStore final : public LinkStore {
 public:
  PgLinkStore(std::string conninfo, Milliseconds timeout, DirectusIndexes indexes);

  void enqueue_link_requests(const std::vector<LinkRequestRecord>& requests) override;
  // Several accepted requests in one statement and one transaction (group commit).
  void enqueue_link_requests(const std::vector<const LinkRequestRecord*>& requests);
  std::vector<RequestOutcome> process_link_requests(int limit) override;
  std::vector<QueuedMail> claim_due_mail(int limit, Milliseconds lease,
                                         const std::vector<int>& passed_over) override;
  void release_mail(int link_id) override;
  bool record_delivery_event(int link_id, const DeliveryEvent& event) override;
  std::int64_t outbox_depth() override;
  void mail_sent(int link_id) override;
  void mail_failed(int link_id, const std::string& error,
                   std::optional<Milliseconds> retry_in) override;
  void delete_old_rows(int retention_days) override;
  std::optional<ClaimedLink> claim_link(const LinkClaim& claim) override;
  void release_claim(int link_id, const std::string& session_token) override;
  std::optional<LinkPreview> preview_link(const std::vector<std::string>& token_hashes) override;
  std::optional<std::string> user_email(const std::string& user_id) override;
  std::optional<SessionOwner> find_session(const std::string& session_token) override;

 private:
  PgConnection& ready();

  PgConnection connection_;
  DirectusIndexes indexes_;
};

}  // namespace magic_link
