// The per-worker pools behind the ports: clients bounded, writes grouped.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/adapters/client_pool.h"
#include "core/adapters/group_commit.h"
#include "unit.h"

namespace {

using namespace magic_link;
using namespace std::chrono_literals;

struct Client {};

// A task that waited longer than the pool's wait fails fast and leaves the line.
void a_task_waits_at_most_the_wait_then_fails(void**) {
  ClientPool<Client> pool(
      Backend::redis, [] { return std::make_unique<Client>(); }, 1, 50ms);
  auto held = pool.borrow();
  bool failed = false;
  try {
    pool.borrow();
  } catch (const BackendError& error) {
    failed = std::string(error.what()).find("busy") != std::string::npos;
  }
  assert_true(failed);
}

// Writes that arrive while one is under way are made together, in one batch, in order.
void writes_arriving_together_share_a_batch(void**) {
  GroupCommit<int> commit;
  std::vector<std::vector<int>> batches;
  std::atomic<bool> first_started{false};
  std::thread first([&] {
    commit.write({1}, [&](const std::vector<const int*>& batch) {
      first_started = true;
      std::this_thread::sleep_for(100ms);  // the others arrive meanwhile
      batches.push_back({*batch[0]});
    });
  });
  while (!first_started) std::this_thread::yield();
  std::vector<std::thread> others;
  for (int i = 0; i < 2; ++i) {
    others.emplace_back([&, i] {
      commit.write({10 * (i + 1), 10 * (i + 1) + 1}, [&](const std::vector<const int*>& batch) {
        std::vector<int> values;
        for (const int* value : batch) values.push_back(*value);
        batches.push_back(values);
      });
    });
    std::this_thread::sleep_for(20ms);
  }
  first.join();
  for (auto& thread : others) thread.join();
  assert_int_equal(batches.size(), 2);
  assert_int_equal(batches[1].size(), 4);  // both later writes, with all their items
  assert_int_equal(batches[1][0], 10);
  assert_int_equal(batches[1][3], 21);
}

}  // namespace

GroupResult run_pools_tests() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_task_waits_at_most_the_wait_then_fails),
      cmocka_unit_test(writes_arriving_together_share_a_batch),
  };
  return run_group("pools", tests);
}
