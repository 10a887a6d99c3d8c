// What the module counts for its status page (`magic_link_status`): plain atomic counters in one
// fixed-size block, which nginx places in shared memory so every worker adds to the same
// numbers and a scrape reads their sums. No label ever holds an address, email or user id.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "core/ports/backend_error.h"
#include "core/ports/link_store.h"

namespace magic_link::metrics {

// What became of a link request: the request path decides the last three, the background the
// rest (RequestOutcome).
enum class LinkRequest {
  issued,
  unknown,
  inactive,
  role,
  admin,
  provider,
  email_limited,
  client_limited,
  invalid,
  unavailable,
};
enum class Redemption {
  redeemed,
  invalid,
  limited,
  unavailable,
  otp_required,
  otp_invalid,
  tfa_setup_required,
  user_suspended,
  licence_locked,
  other_device,
  approved,
  waiting,
};
enum class Gate { allowed, sign_in, forbidden, unavailable };
// sent, given up, set to retry; then what the mail service reported (delivery webhooks).
enum class Mail { sent, failed, retried, delivered, bounced, complained };

inline constexpr std::array<std::string_view, 10> kLinkRequestNames = {
    "issued",   "unknown",       "inactive",       "role",    "admin",
    "provider", "email_limited", "client_limited", "invalid", "unavailable"};
inline constexpr std::array<std::string_view, 12> kRedemptionNames = {
    "redeemed",           "invalid",        "limited",
    "unavailable",        "otp_required",   "otp_invalid",
    "tfa_setup_required", "user_suspended", "licence_locked",
    "other_device",       "approved",       "waiting"};
inline constexpr std::array<std::string_view, 4> kGateNames = {"allowed", "sign_in", "forbidden",
                                                               "unavailable"};
inline constexpr std::array<std::string_view, 6> kMailNames = {
    "sent", "failed", "retried", "delivered", "bounced", "complained"};
inline constexpr size_t kBackends = 4;  // Backend's values, named by backend_name
// Upper bounds of the latency histogram's buckets, in microseconds (+Inf follows).
inline constexpr std::array<std::uint64_t, 14> kBucketBounds = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

using Count = std::atomic<std::uint64_t>;
static_assert(Count::is_always_lock_free, "counters live in memory shared by processes");

// The call count is the buckets' sum, so a scrape always sees them agree.
struct BackendCalls {
  Count failures{0};  // every BackendError, a busy pool's refusal included
  Count micros_sum{0};
  std::array<Count, kBucketBounds.size() + 1> buckets{};  // not cumulative; the last is +Inf
};

struct Registry {
  std::array<Count, kLinkRequestNames.size()> link_requests{};
  std::array<Count, kRedemptionNames.size()> redemptions{};
  std::array<Count, kGateNames.size()> gate{};
  std::array<Count, kMailNames.size()> mail{};
  std::atomic<std::int64_t> outbox_depth{-1};  // -1: not looked at yet
  std::array<BackendCalls, kBackends> backends{};
};

// Where counts go from now on (in nginx: the shared zone); none, the default, drops them.
void install(Registry* registry);
const Registry* installed();

void count(LinkRequest outcome);
void count(RequestOutcome outcome);
void count(Redemption outcome);
void count(Gate decision);
void count(Mail result, int how_many = 1);
void set_outbox_depth(std::int64_t depth);
void count_backend_call(Backend backend, std::chrono::steady_clock::duration took);
void count_backend_failure(Backend backend);

}  // namespace magic_link::metrics
