// A bounded pool of one backend's clients (connections) for one worker process: at most `max`
// exist, a task borrows one per call, and clients left unused for a while are closed, so the
// database Directus shares sees few connections and an idle worker holds none.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/metrics/metrics.h"
#include "core/ports/backend_error.h"

namespace magic_link {

template <typename Client>
class ClientPool {
 public:
  using Clock = std::chrono::steady_clock;
  using Factory = std::function<std::unique_ptr<Client>()>;

  ClientPool(Backend backend, Factory make, int max, std::chrono::milliseconds wait)
      : backend_(backend), make_(std::move(make)), max_(max), wait_(wait) {}

  // A borrowed client, given back when the lease ends.
  class Lease {
   public:
    Lease(ClientPool& pool, std::unique_ptr<Client> client, Clock::time_point since)
        : pool_(pool), client_(std::move(client)), since_(since) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    // A lease lasts one call (with its connect, if any): its length is the call's, for the
    // status page's histogram.
    ~Lease() {
      metrics::count_backend_call(pool_.backend_, Clock::now() - since_);
      pool_.give_back(std::move(client_));
    }
    Client* operator->() { return client_.get(); }

   private:
    ClientPool& pool_;
    std::unique_ptr<Client> client_;
    Clock::time_point since_;
  };

  // An idle client, else a new one while fewer than `max` exist; else waits up to `wait` for
  // one to come back, then fails fast (BackendError, step "pool").
  Lease borrow() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!returned_.wait_for(lock, wait_, [this] { return !idle_.empty() || open_ < max_; })) {
      throw BackendError(backend_, "pool",
                         "all " + std::to_string(max_) + " connections of this worker are busy");
    }
    if (!idle_.empty()) {
      std::unique_ptr<Client> client = std::move(idle_.back().client);
      idle_.pop_back();
      return Lease(*this, std::move(client), Clock::now());
    }
    ++open_;
    lock.unlock();
    const auto since = Clock::now();
    try {
      return Lease(*this, make_(), since);
    } catch (...) {
      metrics::count_backend_call(backend_, Clock::now() - since);
      forget();
      throw;
    }
  }

  // Closes the clients unused for longer than `idle` (outside the lock: closing may block).
  void close_idle(std::chrono::milliseconds idle) {
    std::vector<std::unique_ptr<Client>> closing;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto cutoff = Clock::now() - idle;
      for (auto it = idle_.begin(); it != idle_.end();) {
        if (it->since < cutoff) {
          closing.push_back(std::move(it->client));
          it = idle_.erase(it);
          --open_;
        } else {
          ++it;
        }
      }
    }
    if (!closing.empty()) returned_.notify_all();
  }

  int open() {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_;
  }

 private:
  struct Idle {
    std::unique_ptr<Client> client;
    Clock::time_point since;
  };

  void give_back(std::unique_ptr<Client> client) {
    if (!client) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.push_back({std::move(client), Clock::now()});
    }
    returned_.notify_one();
  }

  void forget() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --open_;
    }
    returned_.notify_one();
  }

  const Backend backend_;
  const Factory make_;
  const int max_;
  const std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<Idle> idle_;  // most recently returned last, so busy periods reuse warm clients
  int open_ = 0;            // idle and borrowed
};

}  // namespace magic_link
