#include "core/metrics/metrics.h"

#include <algorithm>

namespace magic_link::metrics {
namespace {

std::atomic<Registry*> current{nullptr};

// Adds to the counter of `which` in the family `counts` picks, when counting is installed.
template <typename Enum, typename Family>
void add(Family counts, Enum which, std::uint64_t how_many = 1) {
  if (Registry* registry = current.load(std::memory_order_relaxed)) {
    (registry->*counts)[static_cast<size_t>(which)].fetch_add(how_many, std::memory_order_relaxed);
  }
}

}  // namespace

void install(Registry* registry) {
  current.store(registry);
}

const Registry* installed() {
  return current.load();
}

void count(LinkRequest outcome) {
  add(&Registry::link_requests, outcome);
}

void count(RequestOutcome outcome) {
  switch (outcome) {
    case RequestOutcome::issued:
      return count(LinkRequest::issued);
    case RequestOutcome::rate_limited:
      return count(LinkRequest::email_limited);
    case RequestOutcome::unknown_user:
      return count(LinkRequest::unknown);
    case RequestOutcome::inactive_user:
      return count(LinkRequest::inactive);
    case RequestOutcome::role_refused:
      return count(LinkRequest::role);
    case RequestOutcome::admin_refused:
      return count(LinkRequest::admin);
    case RequestOutcome::provider_refused:
      return count(LinkRequest::provider);
  }
}

void count(Redemption outcome) {
  add(&Registry::redemptions, outcome);
}

void count(Gate decision) {
  add(&Registry::gate, decision);
}

void count(Mail result, int how_many) {
  if (how_many > 0) add(&Registry::mail, result, static_cast<std::uint64_t>(how_many));
}

void set_outbox_depth(std::int64_t depth) {
  if (Registry* registry = current.load(std::memory_order_relaxed)) {
    registry->outbox_depth.store(depth, std::memory_order_relaxed);
  }
}

BackendCalls* backend_calls(Backend backend) {
  Registry* registry = current.load(std::memory_order_relaxed);
  return registry ? &registry->backends[static_cast<size_t>(backend)] : nullptr;
}

void count_backend_call(Backend backend, std::chrono::steady_clock::duration took) {
  BackendCalls* calls = backend_calls(backend);
  if (calls == nullptr) return;
  const auto micros = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kBucketBounds.begin(), kBucketBounds.end(), micros) - kBucketBounds.begin());
  calls->buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  calls->micros_sum.fetch_add(micros, std::memory_order_relaxed);
}

void count_backend_failure(Backend backend) {
  if (BackendCalls* calls = backend_calls(backend)) {
    calls->failures.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace magic_link::metrics
