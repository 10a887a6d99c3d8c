// The module's nginx variables.
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

// $magic_link_request: $request with every token value masked, for access logs (a mailed link's
// GET carries a live token in its query string).
ngx_int_t add_variables(ngx_conf_t* cf) noexcept;

// Gives a variable `value`, copied into the request's pool (for the get handlers).
ngx_int_t set_variable(ngx_http_request_t* r, ngx_http_variable_value_t* v, std::string_view value);

}  // namespace magic_link::ngx
