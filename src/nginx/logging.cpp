#include "nginx/logging.h"

namespace magic_link::ngx {
namespace {

u_char* redacted_context(ngx_log_t* log, u_char* buf, size_t len) {
  const auto* ctx = static_cast<ngx_http_log_ctx_t*>(log->data);
  u_char* p = buf;
  if (ctx == nullptr || ctx->connection == nullptr) return p;
  p = ngx_snprintf(p, len, ", client: %V", &ctx->connection->addr_text);
  const ngx_http_request_t* r = ctx->request;
  if (r == nullptr) return p;
  const auto* cscf =
      static_cast<ngx_http_core_srv_conf_t*>(ngx_http_get_module_srv_conf(r, ngx_http_core_module));
  p = ngx_snprintf(p, len - (p - buf), ", server: %V, request: \"%V %V\"", &cscf->server_name,
                   &r->method_name, &r->uri);
  if (r->headers_in.host != nullptr) {
    p = ngx_snprintf(p, len - (p - buf), ", host: \"%V\"", &r->headers_in.host->value);
  }
  return p;
}

}  // namespace

ngx_log_t* request_log(ngx_http_request_t* r) {
  auto* log = static_cast<ngx_log_t*>(ngx_palloc(r->pool, sizeof(ngx_log_t)));
  if (log == nullptr) return r->connection->log;
  *log = *r->connection->log;
  log->handler = redacted_context;
  return log;
}

void log_lines(ngx_log_t* log, const std::vector<LogLine>& lines) {
  for (const auto& line : lines) {
    const ngx_uint_t level = line.level == LogLine::Level::error  ? NGX_LOG_ERR
                             : line.level == LogLine::Level::warn ? NGX_LOG_WARN
                                                                  : NGX_LOG_INFO;
    ngx_log_error(level, log, 0, "%s", line.text.c_str());
  }
}

}  // namespace magic_link::ngx
