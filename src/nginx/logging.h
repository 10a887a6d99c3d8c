// The module's lines in nginx's error log.
#pragma once

#include <vector>

#include "core/flows/outcome.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

void log_lines(ngx_log_t* log, const std::vector<LogLine>& lines);

// The request's log, with nginx's usual context (client, server, request, host) but the request
// line cut before its query string: links carry their token there, and the module's lines must
// never show one.
ngx_log_t* request_log(ngx_http_request_t* r);

}  // namespace magic_link::ngx
