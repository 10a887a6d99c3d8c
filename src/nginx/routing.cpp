#include "nginx/routing.h"

#include <charconv>
#include <ctime>
#include <exception>
#include <optional>

#include "core/crypto/binding.h"
#include "core/flows/account.h"
#include "core/flows/delivery_webhook.h"
#include "core/adapters/pooled_backends.h"
#include "core/render/pages.h"
#include "core/flows/redeem_link.h"
#include "core/flows/request_link.h"
#include "core/input/body.h"
#include "core/input/redirect.h"
#include "core/metrics/metrics.h"
#include "core/render/response.h"
#include "nginx/config.h"
#include "nginx/limit_cache.h"
#include "nginx/logging.h"
#include "nginx/offload.h"
#include "nginx/request_fields.h"
#include "nginx/responses.h"
#include "nginx/session_cache.h"

namespace magic_link::ngx {
namespace {

constexpr std::string_view kLiveness = "Magic Link Authentication Endpoint";
// An email, a redirect URL or a token fit easily; anything larger is not a request of ours.
constexpr off_t kMaxBody = 8 * 1024;
// Mailgun's events carry the message's headers and envelope: a few KB. nginx keeps a body in
// memory up to client_body_buffer_size (16k by default on 64-bit); beyond that it is refused.
constexpr off_t kMaxEventBody = 64 * 1024;
constexpr size_t kMaxUserAgent = 512;

off_t max_body(ngx_http_request_t* r) {
  return location_conf(r).endpoint == Endpoint::mailgun_webhook ? kMaxEventBody : kMaxBody;
}

ngx_int_t refuse_method(ngx_http_request_t* r, const char* allowed) {
  Response refused = json_failure(405, "Method not allowed");
  refused.headers.emplace_back("Allow", allowed);
  return send(r, refused);
}

// The part of the URI after the location's prefix: "" for the root, "generate", "success", ...
std::string_view sub_path(ngx_http_request_t* r) {
  const auto* clcf =
      static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
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
// than any request of ours) or it is over the limit.
std::optional<std::string> body_text(ngx_http_request_t* r) {
  std::string text;
  if (r->request_body == nullptr) return text;
  for (ngx_chain_t* link = r->request_body->bufs; link != nullptr; link = link->next) {
    const ngx_buf_t* buffer = link->buf;
    if (buffer->in_file && !ngx_buf_in_memory(buffer)) return std::nullopt;
    text.append(reinterpret_cast<const char*>(buffer->pos), buffer->last - buffer->pos);
    if (static_cast<off_t>(text.size()) > max_body(r)) return std::nullopt;
  }
  return text;
}

std::string query_field(ngx_http_request_t* r, std::string_view name) {
  const Field field = form_field(view(r->args), name);
  return field.state == Field::State::text ? field.value : std::string();
}

std::string query_token(ngx_http_request_t* r) {
  return query_field(r, "token");
}

Client client_of(ngx_http_request_t* r) {
  Client client;
  client.ip = std::string(view(r->connection->addr_text));
  if (r->headers_in.user_agent != nullptr) {
    client.user_agent = std::string(view(r->headers_in.user_agent->value).substr(0, kMaxUserAgent));
  }
  client.accept_language = std::string(header(r, "Accept-Language").substr(0, kMaxUserAgent));
  client.binding = read_binding(cookie(r, kBindingCookie));
  client.directus_cookies = directus_cookies(r);
  client.browser = !header(r, "Origin").empty() || r->headers_in.cookies.nelts > 0;
  return client;
}

// A browser's form POST must come from the public site: else a 403 page (the sent answer's
// code), telling the person what to do again. With `unlabelled_ok`, a POST naming no origin at
// all (no browser sends one so) passes too.
std::optional<ngx_int_t> refuse_foreign_form(ngx_http_request_t* r, const char* what,
                                             std::string_view again, std::string_view action,
                                             bool unlabelled_ok = false) {
  const LocationConf& lcf = location_conf(r);
  const std::string_view origin = header(r, "Origin");
  const std::string_view referer = header(r, "Referer");
  if (same_origin(*lcf.settings, origin, referer) ||
      (unlabelled_ok && origin.empty() && referer.empty())) {
    return std::nullopt;
  }
  ngx_log_error(NGX_LOG_WARN, request_log(r), 0, "magic_link: %s refused: cross-origin form post",
                what);
  return send(r,
              notice_page(*lcf.settings, *lcf.templates, 403, "This form expired", again, action));
}

ngx_int_t too_large(ngx_http_request_t* r) {
  ngx_log_error(NGX_LOG_INFO, request_log(r), 0, "magic_link: request refused: body too large");
  return send(r, json_failure(413, "Request body too large"));
}

// For work started from the content handler: holds the request for the job, which finalizes it.
ngx_int_t offload_from_handler(ngx_http_request_t* r, std::function<Outcome()> work) {
  r->main->count++;
  offload(r, std::move(work));
  return NGX_DONE;
}

// Reads the whole body, then runs `Next` with it (or answers 413).
template <void (*Next)(ngx_http_request_t*, BodyFormat, const std::string&)>
void after_body(ngx_http_request_t* r) noexcept {
  try {
    const auto body = body_text(r);
    if (!body) {
      ngx_http_finalize_request(r, too_large(r));
      return;
    }
    Next(r, *body_format(r), *body);
  } catch (const std::exception& e) {
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: request failed: %s", e.what());
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
  }
}

template <void (*Next)(ngx_http_request_t*, BodyFormat, const std::string&)>
ngx_int_t read_body(ngx_http_request_t* r) {
  if (!body_format(r)) {
    ngx_log_error(NGX_LOG_INFO, request_log(r), 0,
                  "magic_link: request refused: unsupported content type");
    return send(r, json_failure(415, "Send application/json or application/x-www-form-urlencoded"));
  }
  if (r->headers_in.content_length_n > max_body(r)) return too_large(r);
  r->request_body_in_single_buf = 1;
  const ngx_int_t rc = ngx_http_read_client_request_body(r, after_body<Next>);
  return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
}

// Validates on the event loop; runs the backends on the pool. `as_page` turns the API's answer
// into the page a browser form should get.
void request_link_then(ngx_http_request_t* r, BodyFormat format, const std::string& body,
                       bool as_page) {
  const LocationConf& lcf = location_conf(r);
  // A client already over its limit is refused from shared memory, without Redis; one that
  // sends cookies may be an address's owner, with an allowance of its own: asked as usual.
  if (r->headers_in.cookies.nelts == 0) {
    const std::string client(view(r->connection->addr_text));
    if (const auto left = still_refused(refusal_key(*lcf.settings, client))) {
      metrics::count(metrics::LinkRequest::client_limited);
      ngx_log_error(NGX_LOG_WARN, request_log(r), 0,
                    "magic_link: generate refused: per-client limit reached");
      const Response refused = json_too_many(left->count());
      ngx_http_finalize_request(
          r,
          send(r, as_page ? link_request_page(*lcf.settings, *lcf.templates, refused, view(r->uri))
                          : refused));
      return;
    }
  }
  auto input = read_link_request(*lcf.settings, format, body, client_of(r),
                                 as_page ? RequestSource::page : RequestSource::api);
  if (auto* refused = std::get_if<Outcome>(&input)) {
    metrics::count(metrics::LinkRequest::invalid);
    log_lines(request_log(r), refused->log);
    const Response& answer = refused->response;
    ngx_http_finalize_request(
        r, send(r, as_page ? link_request_page(*lcf.settings, *lcf.templates, answer, view(r->uri))
                           : answer));
    return;
  }
  auto request = std::get<LinkRequest>(std::move(input));
  std::function<Outcome(Outcome)> page;
  if (as_page) {
    page = [settings = lcf.settings, templates = lcf.templates, action = std::string(view(r->uri)),
            bound = !request.binding_id.empty()](Outcome outcome) {
      if (outcome.failure) return outcome;
      const std::time_t deadline = std::time(nullptr) + settings->expiration_minutes * 60;
      outcome.response = link_request_page(*settings, *templates, outcome.response, action,
                                           bound ? waiting_path(action, deadline) : "");
      return outcome;
    };
  }
  offload_link_request(r, {lcf.settings, std::move(request)}, std::move(page));
}

void generate(ngx_http_request_t* r, BodyFormat format, const std::string& body) {
  request_link_then(r, format, body, /*as_page=*/false);
}

RedeemRequest redeem_request(ngx_http_request_t* r, std::string token, std::string otp,
                             std::string code_verifier) {
  return {std::move(token),
          std::move(otp),
          std::move(code_verifier),
          client_of(r),
          std::string(header(r, "Origin")),
          false};
}

// The token and one-time password a redeeming POST carries (JSON or form).
RedeemRequest posted_redemption(ngx_http_request_t* r, const std::optional<RequestBody>& body) {
  const auto text = [&](std::string_view name) {
    const Field field = body ? body->field(name) : Field{};
    return field.state == Field::State::text ? field.value : std::string();
  };
  return redeem_request(r, text("token"), text("otp"), text("code_verifier"));
}

std::function<Outcome()> api_redemption(ngx_http_request_t* r, RedeemRequest request) {
  return [settings = location_conf(r).settings, shared = main_conf(r).shared,
          request = std::move(request)] {
    return api_answer(*settings,
                      redeem_link(*settings, request, SessionMode::json, pooled_backends(*shared)));
  };
}

void api_verify(ngx_http_request_t* r, BodyFormat format, const std::string& body) {
  offload(r, api_redemption(r, posted_redemption(r, RequestBody::parse(format, body))));
}

ngx_int_t serve_api(ngx_http_request_t* r) {
  const std::string_view action = sub_path(r);
  if (action.empty()) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return refuse_method(r, "GET, HEAD");
    return send(r, text(200, std::string(kLiveness)));
  }
  if (action == "generate") {
    if (!(r->method & NGX_HTTP_POST)) return refuse_method(r, "POST");
    return read_body<generate>(r);
  }
  if (action == "verify") {
    const bool get_redeems = location_conf(r).settings->api_get_redeems;
    if (r->method & NGX_HTTP_POST) return read_body<api_verify>(r);
    if ((r->method & NGX_HTTP_GET) && get_redeems) {
      if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
      return offload_from_handler(
          r, api_redemption(
                 r, redeem_request(r, query_token(r), "", query_field(r, "code_verifier"))));
    }
    return refuse_method(r, get_redeems ? "GET, POST" : "POST");
  }
  return send(r, json_failure(404, "Not found"));
}

// The page a mailed link opens. GET only shows who signs in: mail scanners fetch links, and
// must not spend them. The button POSTs the token back; a POSTed email asks for a new link.
void verify_page_post(ngx_http_request_t* r, BodyFormat format, const std::string& body) {
  const LocationConf& lcf = location_conf(r);
  const std::string action(view(r->uri));
  if (const auto refused =
          refuse_foreign_form(r, "verify", "Please open the link from your email again.", action)) {
    ngx_http_finalize_request(r, *refused);
    return;
  }
  const auto parsed = RequestBody::parse(format, body);
  RedeemRequest request = posted_redemption(r, parsed);
  request.approve = parsed && parsed->field("decision").value == "approve";
  if (request.token.empty() && parsed && parsed->field("email").state != Field::State::absent) {
    request_link_then(r, format, body, /*as_page=*/true);
    return;
  }
  offload(r, [settings = lcf.settings, templates = lcf.templates, shared = main_conf(r).shared,
              request = std::move(request), action] {
    return page_answer(
        *settings, *templates,
        redeem_link(*settings, request, browser_session_mode(*settings), pooled_backends(*shared)),
        request.token, action);
  });
}

// GET <page>?wait=DEADLINE: the waiting page of a browser that asked for a bound link.
ngx_int_t serve_waiting_page(ngx_http_request_t* r, std::string_view deadline_text) {
  const LocationConf& lcf = location_conf(r);
  const std::string action(view(r->uri));
  std::time_t deadline = 0;
  std::from_chars(deadline_text.data(), deadline_text.data() + deadline_text.size(), deadline);
  if (deadline < std::time(nullptr)) {
    return send(r, wait_expired_page(*lcf.settings, *lcf.templates, action));
  }
  return offload_from_handler(
      r, [settings = lcf.settings, templates = lcf.templates, shared = main_conf(r).shared,
          client = client_of(r), action, poll = waiting_path(action, deadline)] {
        return waiting_answer(*settings, *templates,
                              await_approval(*settings, client, pooled_backends(*shared)), poll,
                              action);
      });
}

ngx_int_t serve_verify_page(ngx_http_request_t* r) {
  if (r->method & NGX_HTTP_POST) return read_body<verify_page_post>(r);
  if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return refuse_method(r, "GET, HEAD, POST");
  if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
  if (const std::string wait = query_field(r, "wait"); !wait.empty()) {
    return serve_waiting_page(r, wait);
  }
  const LocationConf& lcf = location_conf(r);
  return offload_from_handler(
      r, [settings = lcf.settings, templates = lcf.templates, shared = main_conf(r).shared,
          token = query_token(r), client = client_of(r), action = std::string(view(r->uri))] {
        return show_link(*settings, *templates, token, client, action, pooled_backends(*shared));
      });
}

// The demo pages: the sign-in form, and who this browser is signed in as.
void ui_request(ngx_http_request_t* r, BodyFormat format, const std::string& body) {
  // A browser's form posted from another site could bind a link of the poster's to this
  // browser (whose waiting page would then sign in as the poster).
  if (const auto refused =
          refuse_foreign_form(r, "sign-in form", "Please send the form from the page again.",
                              view(r->uri), /*unlabelled_ok=*/true)) {
    ngx_http_finalize_request(r, *refused);
    return;
  }
  request_link_then(r, format, body, /*as_page=*/true);
}

ngx_int_t serve_ui(ngx_http_request_t* r) {
  const std::string_view page = sub_path(r);
  const LocationConf& lcf = location_conf(r);
  const auto* clcf =
      static_cast<ngx_http_core_loc_conf_t*>(ngx_http_get_module_loc_conf(r, ngx_http_core_module));
  if (page.empty()) {
    if (r->method & NGX_HTTP_POST) return read_body<ui_request>(r);
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return refuse_method(r, "GET, HEAD, POST");
    if (const std::string wait = query_field(r, "wait"); !wait.empty()) {
      if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
      return serve_waiting_page(r, wait);
    }
    // The gate sent the browser here with where it was going; kept only when it is safe.
    const std::string return_to = form_field(view(r->args), "return").value;
    return send(r, request_page(*lcf.settings, *lcf.templates, view(r->uri),
                                return_target(return_to).value_or("")));
  }
  const std::string base(view(clcf->name));
  const AccountPaths paths{base, base + (base.back() == '/' ? "" : "/") + "sign-out"};
  if (page == "success") {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return refuse_method(r, "GET, HEAD");
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return offload_from_handler(
        r, [settings = lcf.settings, templates = lcf.templates, shared = main_conf(r).shared,
            cookies = directus_cookies(r), paths] {
          return signed_in_page(*settings, *templates, cookies, paths, pooled_backends(*shared));
        });
  }
  if (page == "sign-out") {
    if (!(r->method & NGX_HTTP_POST)) return refuse_method(r, "POST");
    if (const auto refused =
            refuse_foreign_form(r, "sign-out", "Please sign out from the page again.", base)) {
      return *refused;
    }
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    const GateCookies cookies = directus_cookies(r);
    // This host's gate refuses the session at once; others within magic_link_session_cache.
    for (const std::string* value : {&cookies.session_jwt, &cookies.refresh_token}) {
      if (!value->empty()) forget_session(session_cache_key(*value));
    }
    return offload_from_handler(
        r, [settings = lcf.settings, shared = main_conf(r).shared, cookies, paths] {
          return sign_out(*settings, cookies, paths, pooled_backends(*shared));
        });
  }
  return send(r, notice_page(*lcf.settings, *lcf.templates, 404, "Page not found",
                             "Sign in with your email below.", view(clcf->name)));
}

void mailgun_event(ngx_http_request_t* r, BodyFormat format, const std::string& body) {
  const LocationConf& lcf = location_conf(r);
  auto event = read_mailgun_event(*lcf.settings, format, body, std::time(nullptr));
  if (auto* answered = std::get_if<Outcome>(&event)) {
    ngx_http_finalize_request(r, respond(r, *answered));
    return;
  }
  offload(r, [settings = lcf.settings, shared = main_conf(r).shared,
              event = std::get<MailgunEvent>(std::move(event))] {
    return record_mailgun_event(*settings, event, pooled_backends(*shared));
  });
}

ngx_int_t serve_mailgun_webhook(ngx_http_request_t* r) {
  if (!(r->method & NGX_HTTP_POST)) return refuse_method(r, "POST");
  return read_body<mailgun_event>(r);
}

}  // namespace

ngx_int_t content_handler(ngx_http_request_t* r) noexcept try {
  switch (location_conf(r).endpoint) {
    case Endpoint::api:
      return serve_api(r);
    case Endpoint::verify:
      return serve_verify_page(r);
    case Endpoint::ui:
      return serve_ui(r);
    case Endpoint::mailgun_webhook:
      return serve_mailgun_webhook(r);
    default:
      return send(r, json_failure(404, "Not found"));
  }
} catch (const std::exception& e) {
  ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: internal error: %s", e.what());
  return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace magic_link::ngx
