#include "nginx/gate.h"

#include <exception>
#include <memory>
#include <utility>

#include "core/adapters/pooled_backends.h"
#include "core/flows/gate.h"
#include "core/metrics/metrics.h"
#include "nginx/config.h"
#include "nginx/logging.h"
#include "nginx/offload.h"
#include "nginx/request_fields.h"
#include "nginx/responses.h"
#include "nginx/session_cache.h"
#include "nginx/variables.h"

namespace magic_link::ngx {
namespace {

// One request's way through the gate (its module context, in the request's pool).
struct GateState {
  bool checking = false;              // a lookup runs on the thread pool (the fields below
                                      // belong to it until it is done)
  std::optional<SessionCheck> check;  // what it found, until remembered
  std::string internal_error;         // what went wrong instead, when nothing was found
  std::string cache_key;              // of the cookie being looked at
  std::time_t expires_at = 0;         // and its own expiry
  std::optional<SessionOwner> admitted;
};

constexpr std::string_view kIdentityHeaders[] = {"X-Auth-Request-User", "X-Auth-Request-Email",
                                                 "X-Auth-Request-Role"};

GateState* state_of(ngx_http_request_t* r) {
  return static_cast<GateState*>(ngx_http_get_module_ctx(r, ngx_http_magic_link_module));
}

GateState* new_state(ngx_http_request_t* r) {
  auto* state = pool_new<GateState>(r->pool);
  if (state != nullptr) ngx_http_set_ctx(r, state, ngx_http_magic_link_module);
  return state;
}

// Answers now and ends the phases: the answer is finalized here, as a content handler's is.
ngx_int_t answer(ngx_http_request_t* r, const Response& response) {
  ngx_http_finalize_request(r, send(r, response));
  return NGX_DONE;
}

ngx_int_t answer_unavailable(ngx_http_request_t* r, int status) {
  metrics::count(metrics::Gate::unavailable);
  ngx_http_finalize_request(r, respond_unavailable(r, status));
  return NGX_DONE;
}

ngx_int_t refuse(ngx_http_request_t* r, const LocationConf& lcf, GateVerdict verdict) {
  metrics::count(verdict == GateVerdict::sign_in ? metrics::Gate::sign_in
                                                 : metrics::Gate::forbidden);
  const Settings& settings = *lcf.settings;
  const bool browser = accepts_html(r);
  if (verdict == GateVerdict::sign_in && browser) {
    // A navigation is redirected (302); a browser's form POST gets 303, so it follows with GET.
    const int status = (r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD)) ? 302 : 303;
    return answer(r, Response{status,
                              "text/html",
                              {},
                              {{"Location", sign_in_location(settings, view(r->unparsed_uri))},
                               {"Cache-Control", "no-store"}}});
  }
  ngx_log_error(NGX_LOG_INFO, request_log(r), 0, "magic_link: gate refused: %s",
                verdict == GateVerdict::sign_in ? "not signed in" : "user or role not allowed");
  return answer(r, gate_refusal(settings, *lcf.templates, verdict, browser));
}

// The identity headers the upstream reads; the client's own are dropped first, whatever case
// they were sent in, so nobody can claim an identity.
bool pass_identity(ngx_http_request_t* r, const SessionOwner& owner) {
  ngx_list_t headers;
  if (ngx_list_init(&headers, r->pool, 8, sizeof(ngx_table_elt_t)) != NGX_OK) return false;
  for (ngx_list_part_t* part = &r->headers_in.headers.part; part != nullptr; part = part->next) {
    auto* entries = static_cast<ngx_table_elt_t*>(part->elts);
    for (ngx_uint_t i = 0; i < part->nelts; ++i) {
      bool identity = false;
      for (std::string_view name : kIdentityHeaders) {
        identity =
            identity || (entries[i].key.len == name.size() &&
                         ngx_strncasecmp(entries[i].key.data,
                                         reinterpret_cast<u_char*>(const_cast<char*>(name.data())),
                                         name.size()) == 0);
      }
      if (identity) continue;
      auto* kept = static_cast<ngx_table_elt_t*>(ngx_list_push(&headers));
      if (kept == nullptr) return false;
      *kept = entries[i];
    }
  }
  const std::string_view values[] = {owner.user_id, owner.email, owner.role};
  for (size_t i = 0; i < std::size(kIdentityHeaders); ++i) {
    auto* added = static_cast<ngx_table_elt_t*>(ngx_list_push(&headers));
    if (added == nullptr) return false;
    *added = {};
    added->key = copy(r->pool, kIdentityHeaders[i]);
    added->value = copy(r->pool, values[i]);
    added->lowcase_key = static_cast<u_char*>(ngx_pnalloc(r->pool, added->key.len));
    if (added->key.data == nullptr || added->value.data == nullptr ||
        added->lowcase_key == nullptr) {
      return false;
    }
    added->hash = ngx_hash_strlow(added->lowcase_key, added->key.data, added->key.len);
  }
  r->headers_in.headers = headers;
  return true;
}

ngx_int_t admit(ngx_http_request_t* r, GateState* state, const SessionOwner& owner) {
  if (state == nullptr && (state = new_state(r)) == nullptr) return NGX_ERROR;
  state->admitted = owner;
  metrics::count(metrics::Gate::allowed);
  return pass_identity(r, owner) ? NGX_OK : NGX_ERROR;
}

ngx_int_t start_check(ngx_http_request_t* r, GateState* state, const NamedSession& named) {
  if (state == nullptr && (state = new_state(r)) == nullptr) return NGX_ERROR;
  state->checking = true;
  state->cache_key = named.cache_key;
  state->expires_at = named.expires_at;
  const ngx_int_t rc = offload_and_resume(
      r,
      [state, row = named.row_token, shared = main_conf(r).shared] {
        try {
          state->check = check_session(row, pooled_backends(*shared));
        } catch (const std::exception& e) {  // not a backend failure: a bug, or no memory
          state->internal_error = e.what();
        }
      },
      [state] { state->checking = false; });
  if (rc == NGX_ERROR) {
    state->checking = false;
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0,
                  "magic_link: gate: thread pool queue is full, answering 503");
    return answer_unavailable(r, NGX_HTTP_SERVICE_UNAVAILABLE);
  }
  return rc;
}

ngx_int_t gate_handler(ngx_http_request_t* r) noexcept try {
  const LocationConf& lcf = location_conf(r);
  // The module's own pages are never gated: the sign-in page must stay reachable.
  if (lcf.endpoint != Endpoint::none || lcf.settings == nullptr || !lcf.settings->require_session) {
    return NGX_DECLINED;
  }
  GateState* state = state_of(r);
  if (state != nullptr && state->checking) return NGX_AGAIN;  // woken before the lookup ended
  if (state != nullptr && !state->internal_error.empty()) {
    ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: gate: internal error: %s",
                  state->internal_error.c_str());
    return answer_unavailable(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
  }

  const GateCookies cookies = directus_cookies(r);
  std::optional<KnownSession> known;
  if (state != nullptr && state->check) {
    SessionCheck check = std::move(*state->check);
    state->check.reset();
    if (check.failure) {
      const std::string line = check.failure->log_line("gate", "; answering 503");
      ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "%s", line.c_str());
      return answer_unavailable(r, check.failure->http_status());
    }
    check.session.expires_at = state->expires_at;
    remember_session(state->cache_key, check.session, request_log(r));
    known = std::move(check.session);
  } else {
    // A cookie seen before needs no signature check: only its remembered state, by its hash.
    const auto max_age = static_cast<ngx_msec_t>(main_conf(r).shared->session_cache.count());
    for (const std::string* value : {&cookies.session_jwt, &cookies.refresh_token}) {
      if (!known && !value->empty()) known = cached_session(session_cache_key(*value), max_age);
    }
  }
  if (!known) {
    const auto named = named_session(*lcf.settings, cookies, ngx_time());
    if (!named) return refuse(r, lcf, GateVerdict::sign_in);
    return start_check(r, state, *named);
  }

  const GateVerdict verdict = gate_verdict(*lcf.settings, *known, ngx_time());
  if (verdict != GateVerdict::pass) return refuse(r, lcf, verdict);
  return admit(r, state, known->owner);
} catch (const std::exception& e) {
  ngx_log_error(NGX_LOG_ERR, request_log(r), 0, "magic_link: gate: internal error: %s", e.what());
  return NGX_HTTP_INTERNAL_SERVER_ERROR;
}

// $magic_link_user_id and friends: `data` is the field's index.
ngx_int_t identity_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v,
                            uintptr_t data) noexcept try {
  const GateState* state = state_of(r);
  if (state == nullptr || !state->admitted) {
    v->not_found = 1;
    return NGX_OK;
  }
  const SessionOwner& owner = *state->admitted;
  return set_variable(r, v, data == 0 ? owner.user_id : data == 1 ? owner.email : owner.role);
} catch (const std::exception&) {
  return NGX_ERROR;
}

}  // namespace

ngx_int_t init_gate(ngx_conf_t* cf, size_t cache_size) {
  auto* cmcf = static_cast<ngx_http_core_main_conf_t*>(
      ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
  auto* handler = static_cast<ngx_http_handler_pt*>(
      ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
  if (handler == nullptr) return NGX_ERROR;
  *handler = gate_handler;
  return add_session_cache(cf, cache_size);
}

ngx_int_t add_gate_variables(ngx_conf_t* cf) {
  static ngx_str_t names[] = {ngx_string("magic_link_user_id"), ngx_string("magic_link_user_email"),
                              ngx_string("magic_link_user_role")};
  for (uintptr_t i = 0; i < std::size(names); ++i) {
    ngx_http_variable_t* variable = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
    if (variable == nullptr) return NGX_ERROR;
    variable->get_handler = identity_variable;
    variable->data = i;
  }
  return NGX_OK;
}

}  // namespace magic_link::ngx
