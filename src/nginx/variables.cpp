#include "nginx/variables.h"

#include <exception>

#include "core/input/query.h"
#include "nginx/gate.h"

namespace magic_link::ngx {
namespace {

ngx_int_t masked_request(ngx_http_request_t* r, ngx_http_variable_value_t* v, uintptr_t) noexcept
    try {
  return set_variable(r, v, mask_tokens(view(r->request_line)));
} catch (const std::exception&) {
  return NGX_ERROR;
}

}  // namespace

ngx_int_t set_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v,
                       std::string_view value) {
  const ngx_str_t copied = copy(r->pool, value);
  if (copied.data == nullptr) return NGX_ERROR;
  v->data = copied.data;
  v->len = copied.len;
  v->valid = 1;
  v->no_cacheable = 0;
  v->not_found = 0;
  return NGX_OK;
}

ngx_int_t add_variables(ngx_conf_t* cf) noexcept {
  ngx_str_t name = ngx_string("magic_link_request");
  ngx_http_variable_t* variable = ngx_http_add_variable(cf, &name, 0);
  if (variable == nullptr) return NGX_ERROR;
  variable->get_handler = masked_request;
  return add_gate_variables(cf);
}

}  // namespace magic_link::ngx
