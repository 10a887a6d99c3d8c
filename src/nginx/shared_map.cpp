#include "nginx/shared_map.h"

namespace magic_link::ngx {

struct SharedMap::Shared {
  ngx_rbtree_t tree;
  ngx_rbtree_node_t sentinel;
  ngx_queue_t lru;  // most recently used first
};

// One entry; its key and then its value follow it in the same allocation.
struct SharedMap::Entry {
  ngx_str_node_t node;  // node.key: crc32 of the key; node.str: the key
  ngx_queue_t lru;
  ngx_msec_t stored_at;
  size_t value_length;
  u_char bytes[1];
};

namespace {

class ZoneLock {
 public:
  explicit ZoneLock(ngx_slab_pool_t* pool) : pool_(pool) { ngx_shmtx_lock(&pool_->mutex); }
  ~ZoneLock() { ngx_shmtx_unlock(&pool_->mutex); }
  ZoneLock(const ZoneLock&) = delete;
  ZoneLock& operator=(const ZoneLock&) = delete;

 private:
  ngx_slab_pool_t* pool_;
};

ngx_str_t as_ngx(std::string_view text) {
  return {text.size(), reinterpret_cast<u_char*>(const_cast<char*>(text.data()))};
}

}  // namespace

ngx_int_t SharedMap::init_zone(ngx_shm_zone_t* zone, void* old_data) noexcept {
  auto* map = static_cast<SharedMap*>(zone->data);
  map->pool_ = reinterpret_cast<ngx_slab_pool_t*>(zone->shm.addr);
  if (old_data != nullptr || zone->shm.exists) {  // a reload: the entries stay valid
    map->shared_ = static_cast<Shared*>(map->pool_->data);
    return NGX_OK;
  }
  map->shared_ = static_cast<Shared*>(ngx_slab_alloc(map->pool_, sizeof(Shared)));
  if (map->shared_ == nullptr) return NGX_ERROR;
  map->pool_->data = map->shared_;
  ngx_rbtree_init(&map->shared_->tree, &map->shared_->sentinel, ngx_str_rbtree_insert_value);
  ngx_queue_init(&map->shared_->lru);
  return NGX_OK;
}

ngx_int_t SharedMap::add(ngx_conf_t* cf, const char* name, size_t size) {
  name_ = name;
  ngx_str_t zone_name = as_ngx(name);
  ngx_shm_zone_t* zone = ngx_shared_memory_add(cf, &zone_name, size, &ngx_http_magic_link_module);
  if (zone == nullptr) return NGX_ERROR;
  zone->init = init_zone;
  zone->data = this;
  return NGX_OK;
}

SharedMap::Entry* SharedMap::find_locked(std::string_view key) {
  ngx_str_t name = as_ngx(key);
  auto* node = ngx_str_rbtree_lookup(&shared_->tree, &name, ngx_crc32_short(name.data, name.len));
  return reinterpret_cast<Entry*>(node);
}

void SharedMap::remove_locked(Entry* entry) {
  ngx_rbtree_delete(&shared_->tree, &entry->node.node);
  ngx_queue_remove(&entry->lru);
  ngx_slab_free_locked(pool_, entry);
}

// Room for `size` bytes, dropping the least recently used entries while there is none.
SharedMap::Entry* SharedMap::allocate_locked(size_t size) {
  for (;;) {
    if (auto* entry = static_cast<Entry*>(ngx_slab_alloc_locked(pool_, size))) return entry;
    if (ngx_queue_empty(&shared_->lru)) return nullptr;
    remove_locked(ngx_queue_data(ngx_queue_last(&shared_->lru), Entry, lru));
  }
}

std::optional<std::string> SharedMap::get(std::string_view key, ngx_msec_t max_age) {
  if (shared_ == nullptr) return std::nullopt;
  ZoneLock lock(pool_);
  Entry* entry = find_locked(key);
  if (entry == nullptr) return std::nullopt;
  if (ngx_current_msec - entry->stored_at >= max_age) {
    remove_locked(entry);
    return std::nullopt;
  }
  ngx_queue_remove(&entry->lru);
  ngx_queue_insert_head(&shared_->lru, &entry->lru);
  return std::string(reinterpret_cast<const char*>(entry->bytes) + entry->node.str.len,
                     entry->value_length);
}

void SharedMap::put(std::string_view key, std::string_view value, ngx_log_t* log) {
  if (shared_ == nullptr) return;
  ZoneLock lock(pool_);
  if (Entry* old = find_locked(key)) remove_locked(old);
  Entry* entry = allocate_locked(offsetof(Entry, bytes) + key.size() + value.size());
  if (entry == nullptr) {
    ngx_log_error(NGX_LOG_WARN, log, 0, "magic_link: the shared memory zone %s is full", name_);
    return;
  }
  ngx_memcpy(ngx_cpymem(entry->bytes, key.data(), key.size()), value.data(), value.size());
  entry->node.str = {key.size(), entry->bytes};
  entry->node.node.key = ngx_crc32_short(entry->bytes, key.size());
  entry->stored_at = ngx_current_msec;
  entry->value_length = value.size();
  ngx_rbtree_insert(&shared_->tree, &entry->node.node);
  ngx_queue_insert_head(&shared_->lru, &entry->lru);
}

void SharedMap::erase(std::string_view key) {
  if (shared_ == nullptr) return;
  ZoneLock lock(pool_);
  if (Entry* entry = find_locked(key)) remove_locked(entry);
}

}  // namespace magic_link::ngx
