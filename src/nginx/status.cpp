#include "nginx/status.h"

#include <exception>
#include <new>

#include "core/metrics/metrics.h"
#include "core/render/metrics_page.h"
#include "nginx/logging.h"
#include "nginx/request_fields.h"
#include "nginx/responses.h"

namespace magic_link::ngx {
namespace {

// The counters plus the slab allocator's own bookkeeping, in pages.
constexpr size_t kZoneSize = 8 * 4096 + sizeof(metrics::Registry);

ngx_int_t init_zone(ngx_shm_zone_t* zone, void* old_data) noexcept {
  auto* pool = reinterpret_cast<ngx_slab_pool_t*>(zone->shm.addr);
  if (old_data == nullptr && !zone->shm.exists) {
    void* memory = ngx_slab_alloc(pool, sizeof(metrics::Registry));
    if (memory == nullptr) return NGX_ERROR;
    pool->data = new (memory) metrics::Registry();
  }
  // A reload keeps the zone, so counters run on as Prometheus expects of them.
  metrics::install(static_cast<metrics::Registry*>(pool->data));
  zone->data = pool->data;
  return NGX_OK;
}

ngx_int_t status_handler(ngx_http_request_t* r) noexcept try {
  if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
    return send(r, Response{405, "text/plain", "Use GET\n", {{"Allow", "GET, HEAD"}}});
  }
  if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  static const metrics::Registry kNothingCounted;
  const metrics::Registry* registry = metrics::installed();
  return send(
      r, metrics_page(registry ? *registry : kNothingCounted, metrics_format(header(r, "Accept"))));
} catch (const std::exception& e) {
  ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: status: internal error: %s", e.what());
  return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace

char* set_status(ngx_conf_t* cf, ngx_command_t*, void*) noexcept {
  auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
      ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
  if (clcf->handler != nullptr) return const_cast<char*>("is duplicate");
  clcf->handler = status_handler;
  return NGX_CONF_OK;
}

ngx_int_t add_metrics_zone(ngx_conf_t* cf) {
  ngx_str_t name = ngx_string("magic_link_metrics");
  ngx_shm_zone_t* zone = ngx_shared_memory_add(cf, &name, kZoneSize, &ngx_http_magic_link_module);
  if (zone == nullptr) return NGX_ERROR;
  zone->init = init_zone;
  return NGX_OK;
}

}  // namespace magic_link::ngx
