// The work after the answers: each worker wakes up every second (and right after a link request)
// to look at accepted link requests and deliver queued mail, on the thread pool. Workers and
// nginx hosts share both queues in PostgreSQL.
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

ngx_int_t start_background(ngx_cycle_t* cycle) noexcept;
void wake_background() noexcept;

}  // namespace magic_link::ngx
