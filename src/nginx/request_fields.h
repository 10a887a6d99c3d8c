// What the module reads of an nginx request: header and cookie values, by nginx's own parsers.
#pragma once

#include <string>
#include <string_view>

#include "core/flows/gate.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

// The first request header called `name` (any case); empty when there is none.
std::string_view header(ngx_http_request_t* r, std::string_view name);

// The value of the cookie `name`; empty when the request has none.
std::string cookie(ngx_http_request_t* r, std::string_view name);

// The browser's Directus cookies (session and refresh).
GateCookies directus_cookies(ngx_http_request_t* r);

// Whether the client reads HTML (its Accept names text/html): browsers get pages, others JSON.
bool accepts_html(ngx_http_request_t* r);

}  // namespace magic_link::ngx
