// The nginx headers, for C++, plus the few helpers every nginx-facing file needs.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>
}

#include <string>
#include <string_view>
#include <utility>

extern "C" ngx_module_t ngx_http_magic_link_module;

namespace magic_link::ngx {

inline std::string_view view(const ngx_str_t& s) {
  return {reinterpret_cast<const char*>(s.data), s.len};
}

// Copies `text` into `pool`; nginx keeps pointers to header and body bytes until the request ends.
inline ngx_str_t copy(ngx_pool_t* pool, std::string_view text) {
  ngx_str_t out{text.size(),
                static_cast<u_char*>(ngx_pnalloc(pool, text.size() ? text.size() : 1))};
  if (out.data == nullptr) return {0, nullptr};
  ngx_memcpy(out.data, text.data(), text.size());
  return out;
}

// Creates a C++ object that lives as long as `pool` and is destroyed by the pool's cleanup.
template <typename T, typename... Args>
T* pool_new(ngx_pool_t* pool, Args&&... args) {
  ngx_pool_cleanup_t* cleanup = ngx_pool_cleanup_add(pool, 0);
  if (cleanup == nullptr) return nullptr;
  T* object = new T(std::forward<Args>(args)...);
  cleanup->handler = [](void* data) { delete static_cast<T*>(data); };
  cleanup->data = object;
  return object;
}

}  // namespace magic_link::ngx
