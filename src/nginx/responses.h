// Answers as nginx sends them: the one place where a flow's outcome becomes a response, in the
// location's language (JSON for the API, HTML pages for the verify page and the UI).
#pragma once

#include "core/flows/outcome.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

// Sends `response` (headers, then the body).
ngx_int_t send(ngx_http_request_t* r, const Response& response);

// Logs the outcome's lines and sends its answer; a backend failure is answered by
// unavailable_response for this location's audience.
ngx_int_t respond(ngx_http_request_t* r, const Outcome& outcome);

// `status` (503: a full queue; 500: an internal error) for this location's audience.
ngx_int_t respond_unavailable(ngx_http_request_t* r, int status);

}  // namespace magic_link::ngx
