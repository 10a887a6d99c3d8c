#include "nginx/handler.h"

#include <exception>

#include "core/response.h"
#include "nginx/config.h"

namespace magic_link::ngx {
namespace {

constexpr std::string_view kLiveness = "Magic Link Authentication Endpoint";

bool add_header(ngx_http_request_t* r, std::string_view name, std::string_view value) {
  auto* header = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  if (header == nullptr) return false;
  header->hash = 1;
  header->key = copy(r->pool, name);
  header->value = copy(r->pool, value);
  return header->key.data && header->value.data;
}

ngx_int_t send(ngx_http_request_t* r, const Response& response) {
  if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  r->headers_out.status = response.status;
  r->headers_out.content_type = copy(r->pool, response.content_type);
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_length_n = static_cast<off_t>(response.body.size());
  for (const auto& [name, value] : response.headers) {
    if (!add_header(r, name, value)) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  if (response.body.empty()) r->header_only = 1;

  const ngx_int_t rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) return rc;

  auto* buffer = static_cast<ngx_buf_t*>(ngx_calloc_buf(r->pool));
  const ngx_str_t body = copy(r->pool, response.body);
  if (buffer == nullptr || body.data == nullptr) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  buffer->pos = body.data;
  buffer->last = body.data + body.len;
  buffer->memory = 1;
  buffer->last_buf = (r == r->main) ? 1 : 0;
  buffer->last_in_chain = 1;
  ngx_chain_t out{buffer, nullptr};
  return ngx_http_output_filter(r, &out);
}

// The part of the URI after the location's prefix: "" for the API root, "generate", ...
std::string_view api_action(ngx_http_request_t* r) {
  const auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
      ngx_http_get_module_loc_conf(r, ngx_http_core_module));
  std::string_view uri = view(r->uri);
  const std::string_view prefix = view(clcf->name);
  if (uri.substr(0, prefix.size()) != prefix) return uri;
  uri.remove_prefix(prefix.size());
  while (!uri.empty() && uri.front() == '/') uri.remove_prefix(1);
  return uri;
}

ngx_int_t serve_api(ngx_http_request_t* r) {
  const std::string_view action = api_action(r);
  if (action.empty()) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
      Response refused = json_failure(405, "Method not allowed");
      refused.headers.emplace_back("Allow", "GET, HEAD");
      return send(r, refused);
    }
    return send(r, text(200, std::string(kLiveness)));
  }
  return send(r, json_failure(404, "Not found"));
}

}  // namespace

ngx_int_t content_handler(ngx_http_request_t* r) noexcept try {
  const auto* lcf = static_cast<LocationConf*>(
      ngx_http_get_module_loc_conf(r, ngx_http_magic_link_module));
  switch (lcf->endpoint) {
    case Endpoint::api:
      return serve_api(r);
    default:
      return send(r, json_failure(404, "Not found"));
  }
} catch (const std::exception& e) {
  ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "magic_link: internal error: %s", e.what());
  return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace magic_link::ngx
