// A map from text keys to text values in one shared memory zone for all workers (as limit_req
// keeps its states): a red-black tree by key, the least recently used entry dropped first when
// the zone is full. Touched on the event loop only, under the zone's mutex.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nginx/ngx.h"

namespace magic_link::ngx {

class SharedMap {
 public:
  // Adds the zone `name` (`size` bytes) to the configuration; once, from postconfiguration.
  ngx_int_t add(ngx_conf_t* cf, const char* name, size_t size);

  // The value stored under `key` at most `max_age` ago (older ones are dropped); nothing when
  // there is none or the zone is not in use.
  std::optional<std::string> get(std::string_view key, ngx_msec_t max_age);
  // Stores `value` under `key`, replacing any; logs once per call when the zone is full.
  void put(std::string_view key, std::string_view value, ngx_log_t* log);
  void erase(std::string_view key);

 private:
  struct Shared;
  struct Entry;
  static ngx_int_t init_zone(ngx_shm_zone_t* zone, void* old_data) noexcept;
  Entry* find_locked(std::string_view key);
  void remove_locked(Entry* entry);
  Entry* allocate_locked(size_t size);

  const char* name_ = "";
  ngx_slab_pool_t* pool_ = nullptr;
  Shared* shared_ = nullptr;
};

}  // namespace magic_link::ngx
