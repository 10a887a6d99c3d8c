// `magic_link_status;` in a location answers the module's counters (core/metrics) for
// Prometheus, like stub_status: from a shared memory zone every worker adds to.
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

// The `magic_link_status` directive: makes the location answer the metrics.
char* set_status(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept;

// The zone `magic_link_metrics`, where counting goes from the time it is set up.
ngx_int_t add_metrics_zone(ngx_conf_t* cf);

}  // namespace magic_link::ngx
