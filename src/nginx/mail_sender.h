// Each worker wakes up every second (and right after a link was issued) to deliver queued mail
// on the thread pool. Workers and nginx hosts share the queue in PostgreSQL.
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

ngx_int_t start_mail_sender(ngx_cycle_t* cycle) noexcept;
void wake_mail_sender() noexcept;

}  // namespace magic_link::ngx
