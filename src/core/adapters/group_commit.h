// Group commit for one worker process: the pool threads that want to write at the same time
// share one transaction, so one WAL flush answers them all. The first to arrive writes everything
// waiting when it starts; those arriving meanwhile wait, and the first of them writes the next
// batch. A lone write is made at once; nothing waits on a timer.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

namespace magic_link {

template <typename Item>
class GroupCommit {
 public:
  using Write = std::function<void(const std::vector<const Item*>& batch)>;

  // Returns once `items` are written (committed) with their batch; throws what writing it threw.
  void write(const std::vector<Item>& items, const Write& write_batch) {
    Slot slot{&items, false, nullptr};
    std::unique_lock<std::mutex> lock(mutex_);
    waiting_.push_back(&slot);
    while (!slot.done) {
      if (writing_) {
        written_.wait(lock);
        continue;
      }
      writing_ = true;
      std::vector<Slot*> batch;
      batch.swap(waiting_);
      lock.unlock();
      std::exception_ptr error;
      try {
        std::vector<const Item*> all;
        for (const Slot* each : batch) {
          for (const Item& item : *each->items) all.push_back(&item);
        }
        write_batch(all);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      for (Slot* each : batch) {
        each->done = true;
        each->error = error;
      }
      writing_ = false;
      written_.notify_all();
    }
    if (slot.error) std::rethrow_exception(slot.error);
  }

 private:
  struct Slot {
    const std::vector<Item>* items;
    bool done = false;
    std::exception_ptr error;
  };
  std::mutex mutex_;
  std::condition_variable written_;
  std::vector<Slot*> waiting_;
  bool writing_ = false;
};

}  // namespace magic_link
