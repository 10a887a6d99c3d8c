#include "nginx/session_cache.h"

#include <cstring>
#include <string_view>

namespace magic_link::ngx {
namespace {

struct Shared {
  ngx_rbtree_t tree;
  ngx_rbtree_node_t sentinel;
  ngx_queue_t lru;  // most recently used first
};

// One entry; its key and the owner's fields follow it in the same allocation.
struct Entry {
  ngx_str_node_t node;  // node.key: crc32 of the key; node.str: the key
  ngx_queue_t lru;
  ngx_msec_t checked_at;
  time_t expires_at;
  bool live;
  bool active;
  uint16_t lengths[4];  // user id, email, role, role chain (comma-separated)
  u_char bytes[1];
};

struct Cache {
  ngx_shm_zone_t* zone = nullptr;
  ngx_slab_pool_t* pool = nullptr;
  Shared* shared = nullptr;
};
Cache cache;

ngx_int_t init_zone(ngx_shm_zone_t* zone, void* old_data) noexcept {
  cache.pool = reinterpret_cast<ngx_slab_pool_t*>(zone->shm.addr);
  if (old_data != nullptr || zone->shm.exists) {  // a reload: the entries stay valid
    cache.shared = static_cast<Shared*>(cache.pool->data);
    return NGX_OK;
  }
  cache.shared = static_cast<Shared*>(ngx_slab_alloc(cache.pool, sizeof(Shared)));
  if (cache.shared == nullptr) return NGX_ERROR;
  cache.pool->data = cache.shared;
  ngx_rbtree_init(&cache.shared->tree, &cache.shared->sentinel, ngx_str_rbtree_insert_value);
  ngx_queue_init(&cache.shared->lru);
  return NGX_OK;
}

Entry* find_locked(const std::string& key) {
  ngx_str_t name{key.size(), reinterpret_cast<u_char*>(const_cast<char*>(key.data()))};
  auto* node =
      ngx_str_rbtree_lookup(&cache.shared->tree, &name, ngx_crc32_short(name.data, name.len));
  return reinterpret_cast<Entry*>(node);
}

void remove_locked(Entry* entry) {
  ngx_rbtree_delete(&cache.shared->tree, &entry->node.node);
  ngx_queue_remove(&entry->lru);
  ngx_slab_free_locked(cache.pool, entry);
}

// Room for `size` bytes, dropping the least recently used entries while there is none.
Entry* allocate_locked(size_t size) {
  for (;;) {
    if (auto* entry = static_cast<Entry*>(ngx_slab_alloc_locked(cache.pool, size))) return entry;
    if (ngx_queue_empty(&cache.shared->lru)) return nullptr;
    ngx_queue_t* oldest = ngx_queue_last(&cache.shared->lru);
    remove_locked(ngx_queue_data(oldest, Entry, lru));
  }
}

std::string_view field(const Entry& entry, int index) {
  size_t offset = entry.node.str.len;
  for (int i = 0; i < index; ++i) offset += entry.lengths[i];
  return {reinterpret_cast<const char*>(entry.bytes) + offset, entry.lengths[index]};
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ",") + item;
  return text;
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    items.emplace_back(text.substr(0, comma));
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  return items;
}

class ZoneLock {
 public:
  ZoneLock() { ngx_shmtx_lock(&cache.pool->mutex); }
  ~ZoneLock() { ngx_shmtx_unlock(&cache.pool->mutex); }
  ZoneLock(const ZoneLock&) = delete;
  ZoneLock& operator=(const ZoneLock&) = delete;
};

}  // namespace

ngx_int_t add_session_cache(ngx_conf_t* cf, size_t size) {
  ngx_str_t name = ngx_string("magic_link_sessions");
  cache.zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_magic_link_module);
  if (cache.zone == nullptr) return NGX_ERROR;
  cache.zone->init = init_zone;
  cache.zone->data = &cache;
  return NGX_OK;
}

std::optional<KnownSession> cached_session(const std::string& key, ngx_msec_t max_age) {
  if (cache.shared == nullptr) return std::nullopt;
  ZoneLock lock;
  Entry* entry = find_locked(key);
  if (entry == nullptr) return std::nullopt;
  if (ngx_current_msec - entry->checked_at >= max_age) {
    remove_locked(entry);
    return std::nullopt;
  }
  ngx_queue_remove(&entry->lru);
  ngx_queue_insert_head(&cache.shared->lru, &entry->lru);
  KnownSession session;
  session.live = entry->live;
  session.expires_at = entry->expires_at;
  session.owner = {std::string(field(*entry, 0)), std::string(field(*entry, 1)),
                   std::string(field(*entry, 2)), split(field(*entry, 3)), entry->active};
  return session;
}

void remember_session(const std::string& key, const KnownSession& session, ngx_log_t* log) {
  if (cache.shared == nullptr) return;
  const SessionOwner& owner = session.owner;
  const std::string chain = joined(owner.role_chain);
  const std::string_view fields[] = {owner.user_id, owner.email, owner.role, chain};
  size_t size = offsetof(Entry, bytes) + key.size();
  for (const auto& text : fields) {
    if (text.size() > UINT16_MAX) return;  // nothing Directus stores is this long
    size += text.size();
  }
  ZoneLock lock;
  if (Entry* old = find_locked(key)) remove_locked(old);
  Entry* entry = allocate_locked(size);
  if (entry == nullptr) {
    ngx_log_error(NGX_LOG_WARN, log, 0, "magic_link: the session cache zone is full");
    return;
  }
  u_char* at = entry->bytes;
  at = ngx_cpymem(at, key.data(), key.size());
  for (int i = 0; i < 4; ++i) {
    entry->lengths[i] = static_cast<uint16_t>(fields[i].size());
    at = ngx_cpymem(at, fields[i].data(), fields[i].size());
  }
  entry->node.str = {key.size(), entry->bytes};
  entry->node.node.key = ngx_crc32_short(entry->bytes, key.size());
  entry->checked_at = ngx_current_msec;
  entry->live = session.live;
  entry->expires_at = session.expires_at;
  entry->active = owner.active;
  ngx_rbtree_insert(&cache.shared->tree, &entry->node.node);
  ngx_queue_insert_head(&cache.shared->lru, &entry->lru);
}

void forget_session(const std::string& key) {
  if (cache.shared == nullptr) return;
  ZoneLock lock;
  if (Entry* entry = find_locked(key)) remove_locked(entry);
}

}  // namespace magic_link::ngx
