// Serves the `magic_link` endpoints: routes a request, runs it, sends the answer.
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

ngx_int_t content_handler(ngx_http_request_t* r) noexcept;

}  // namespace magic_link::ngx
