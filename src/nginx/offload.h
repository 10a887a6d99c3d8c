// Runs a flow's blocking backend work on the thread pool and answers on the event loop.
#pragma once

#include <functional>

#include "core/flows/outcome.h"
#include "core/flows/request_link.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

// Posts `work` to the module's thread pool; when it is done, answers with its outcome (respond)
// and finalizes `r`. `work` runs on another thread: it must not touch nginx or `r`, only what it
// captured by value. The caller must hold a reference on `r->main` (reading the body does, else
// count it) and return NGX_DONE. A full queue answers 503 at once.
void offload(ngx_http_request_t* r, std::function<Outcome()> work);

// Offloads a link request the same way, batched: the link requests read in one turn of the event
// loop go to the pool as one task, so they share one Redis round trip and one transaction
// (request_links). `finish`, when set, turns the outcome into the location's answer (a page) on
// the pool thread. A full queue answers the batch 503 at once.
void offload_link_request(ngx_http_request_t* r, LinkRequestJob job,
                          std::function<Outcome(Outcome)> finish);

// For a phase handler (the gate): posts `work` and returns NGX_AGAIN; when it is done, `done`
// runs on the event loop and the request's phases run again from the same handler, which finds
// what `work` left. Until then nginx may call the handler again (on a write event): it must
// answer NGX_AGAIN without reading what `work` writes. A full queue: NGX_ERROR.
ngx_int_t offload_and_resume(ngx_http_request_t* r, std::function<void()> work,
                             std::function<void()> done);

}  // namespace magic_link::ngx
