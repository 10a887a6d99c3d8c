// The per-worker pools behind the ports: clients handed out in turn, writes grouped.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/adapters/client_pool.h"
#include "core/adapters/group_commit.h"
#include "unit.h"

namespace {

using namespace magic_link;
using namespace std::chrono_literals;

struct Client {};

// Tasks waiting for the one client get it in the order they asked, and one that asks later
// (here the task that just gave it back) does not take it first: a redemption waiting for
// Directus waits its turn, no longer.
void waiting_tasks_are_served_in_arrival_order(void**) {
  ClientPool<Client> pool(
      Backend::directus, [] { return std::make_unique<Client>(); }, 1, 5s);
  std::mutex order_mutex;
  std::vector<int> order;
  const auto served = [&](int task) {
    std::lock_guard<std::mutex> lock(order_mutex);
    order.push_back(task);
  };
  std::vector<std::thread> waiting;
  {
    auto held = pool.borrow();
    for (int task = 0; task < 6; ++task) {
      waiting.emplace_back([&, task] {
        auto lease = pool.borrow();
        served(task);
      });
      std::this_thread::sleep_for(20ms);  // each is waiting before the next asks
    }
  }
  {
    auto again = pool.borrow();  // asked right after giving it back
    served(6);
  }
  for (auto& thread : waiting) thread.join();
  assert_int_equal(order.size(), 7);
  for (int task = 0; task < 7; ++task) assert_int_equal(order[task], task);
}

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
      cmocka_unit_test(waiting_tasks_are_served_in_arrival_order),
      cmocka_unit_test(a_task_waits_at_most_the_wait_then_fails),
      cmocka_unit_test(writes_arriving_together_share_a_batch),
  };
  return run_group("pools", tests);
}
