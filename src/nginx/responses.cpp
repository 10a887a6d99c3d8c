#include "nginx/responses.h"

#include "core/render/pages.h"
#include "nginx/config.h"
#include "nginx/limit_cache.h"
#include "nginx/logging.h"
#include "nginx/request_fields.h"

namespace magic_link::ngx {
namespace {

bool add_header(ngx_http_request_t* r, std::string_view name, std::string_view value) {
  auto* header = static_cast<ngx_table_elt_t*>(ngx_list_push(&r->headers_out.headers));
  if (header == nullptr) return false;
  header->hash = 1;
  header->key = copy(r->pool, name);
  header->value = copy(r->pool, value);
  return header->key.data && header->value.data;
}

// Browsers read the verify page and the UI; the API speaks JSON; at a gated location the client
// says which it reads.
Audience audience_of(ngx_http_request_t* r) {
  switch (location_conf(r).endpoint) {
    case Endpoint::api:
    case Endpoint::mailgun_webhook:
      return Audience::api;
    case Endpoint::none:
      return accepts_html(r) ? Audience::browser : Audience::api;
    default:
      return Audience::browser;
  }
}

// Where a page's request form posts: the UI's own location, the gate's sign-in page, else this
// page.
std::string_view form_action(ngx_http_request_t* r) {
  const LocationConf& lcf = location_conf(r);
  if (lcf.endpoint == Endpoint::none) return lcf.settings->sign_in_url;
  if (lcf.endpoint != Endpoint::ui) return view(r->uri);
  const auto* clcf =
      static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
  return view(clcf->name);
}

}  // namespace

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

ngx_int_t respond_unavailable(ngx_http_request_t* r, int status) {
  const LocationConf& lcf = location_conf(r);
  return send(r, unavailable_response(status, audience_of(r), *lcf.settings, *lcf.templates,
                                      form_action(r)));
}

ngx_int_t respond(ngx_http_request_t* r, const Outcome& outcome) {
  log_lines(request_log(r), outcome.log);
  if (!outcome.refused_client.empty()) {
    remember_refusal(outcome.refused_client, outcome.refused_for, request_log(r));
  }
  if (outcome.failure) return respond_unavailable(r, outcome.failure->http_status());
  return send(r, outcome.response);
}

}  // namespace magic_link::ngx
