// Runs a flow's blocking backend work on the thread pool and answers on the event loop.
#pragma once

#include <functional>

#include "core/flows/outcome.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

// Posts `work` to the module's thread pool; when it is done, logs its lines, sends its answer and
// finalizes `r`. `work` runs on another thread: it must not touch nginx or `r`, only what it
// captured by value. The caller must hold a reference on `r->main` (reading the body does, else
// count it) and return NGX_DONE. A full queue answers 503 at once.
void offload(ngx_http_request_t* r, std::function<Outcome()> work);

// Sends `response` (the nginx-side half of every answer).
ngx_int_t send(ngx_http_request_t* r, const Response& response);

void log_lines(ngx_log_t* log, const std::vector<LogLine>& lines);

// The request's log, with nginx's usual context (client, server, request, host) but the request
// line cut before its query string: links carry their token there, and the module's lines must
// never show one.
ngx_log_t* request_log(ngx_http_request_t* r);

}  // namespace magic_link::ngx
