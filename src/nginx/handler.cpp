#include "nginx/handler.h"

#include <exception>
#include <optional>

#include "core/backends.h"
#include "core/request_link.h"
#include "core/response.h"
#include "nginx/config.h"
#include "nginx/offload.h"

namespace magic_link::ngx {
namespace {

constexpr std::string_view kLiveness = "Magic Link Authentication Endpoint";
// An email and a redirect URL fit easily; anything larger is not a link request.
constexpr off_t kMaxBody = 8 * 1024;
constexpr size_t kMaxUserAgent = 512;

ngx_int_t refuse_method(ngx_http_request_t* r, const char* allowed) {
  Response refused = json_failure(405, "Method not allowed");
  refused.headers.emplace_back("Allow", allowed);
  return send(r, refused);
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

bool has_media_type(std::string_view content_type, std::string_view type) {
  if (content_type.size() < type.size()) return false;
  for (size_t i = 0; i < type.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(content_type[i])) != type[i]) return false;
  }
  const std::string_view rest = content_type.substr(type.size());
  return rest.empty() || rest.front() == ';' || rest.front() == ' ';
}

// JSON unless the client says it sent a form; a missing type is read as JSON, like the extension.
std::optional<BodyFormat> body_format(ngx_http_request_t* r) {
  if (r->headers_in.content_type == nullptr) return BodyFormat::json;
  const std::string_view type = view(r->headers_in.content_type->value);
  if (has_media_type(type, "application/json")) return BodyFormat::json;
  if (has_media_type(type, "application/x-www-form-urlencoded")) return BodyFormat::form;
  return std::nullopt;
}

// The body as read into memory; nothing if nginx had to spill it to a file (then it is larger
// than any link request) or it is over the limit.
std::optional<std::string> body_text(ngx_http_request_t* r) {
  std::string text;
  if (r->request_body == nullptr) return text;
  for (ngx_chain_t* link = r->request_body->bufs; link != nullptr; link = link->next) {
    const ngx_buf_t* buffer = link->buf;
    if (buffer->in_file && !ngx_buf_in_memory(buffer)) return std::nullopt;
    text.append(reinterpret_cast<const char*>(buffer->pos), buffer->last - buffer->pos);
    if (static_cast<off_t>(text.size()) > kMaxBody) return std::nullopt;
  }
  return text;
}

Client client_of(ngx_http_request_t* r) {
  Client client{std::string(view(r->connection->addr_text)), {}};
  if (r->headers_in.user_agent != nullptr) {
    client.user_agent = std::string(view(r->headers_in.user_agent->value).substr(0, kMaxUserAgent));
  }
  return client;
}

ngx_int_t too_large(ngx_http_request_t* r) {
  ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "magic_link: generate refused: body too large");
  return send(r, json_failure(413, "Request body too large"));
}

void generate_body_read(ngx_http_request_t* r) noexcept {
  try {
    const auto body = body_text(r);
    if (!body) {
      ngx_http_finalize_request(r, too_large(r));
      return;
    }
    const LocationConf& lcf = location_conf(r);
    auto input = read_link_request(*lcf.settings, *body_format(r), *body, client_of(r));
    if (auto* refused = std::get_if<Outcome>(&input)) {
      log_lines(r->connection->log, refused->log);
      ngx_http_finalize_request(r, send(r, refused->response));
      return;
    }
    const MainConf& mcf = main_conf(r);
    offload(r, [settings = lcf.settings, templates = lcf.templates, sealer = mcf.sealer,
                shared = mcf.shared, request = std::get<LinkRequest>(std::move(input))] {
      return request_link(*settings, *templates, *sealer, request, thread_backends(*shared));
    });
  } catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "magic_link: generate failed: %s", e.what());
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
  }
}

ngx_int_t serve_generate(ngx_http_request_t* r) {
  if (!(r->method & NGX_HTTP_POST)) return refuse_method(r, "POST");
  if (!body_format(r)) {
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "magic_link: generate refused: unsupported content type");
    return send(r, json_failure(415, "Send application/json or application/x-www-form-urlencoded"));
  }
  if (r->headers_in.content_length_n > kMaxBody) return too_large(r);
  r->request_body_in_single_buf = 1;
  const ngx_int_t rc = ngx_http_read_client_request_body(r, generate_body_read);
  return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
}

ngx_int_t serve_api(ngx_http_request_t* r) {
  const std::string_view action = api_action(r);
  if (action.empty()) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return refuse_method(r, "GET, HEAD");
    return send(r, text(200, std::string(kLiveness)));
  }
  if (action == "generate") return serve_generate(r);
  return send(r, json_failure(404, "Not found"));
}

}  // namespace

ngx_int_t content_handler(ngx_http_request_t* r) noexcept try {
  switch (location_conf(r).endpoint) {
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
