// magic_link_require: the access-phase gate in front of any location, and the identity it
// passes on (X-Auth-Request-* headers, $magic_link_user_* variables).
#pragma once

#include "nginx/ngx.h"

namespace magic_link::ngx {

// Registers the access-phase handler and the session cache zone; from postconfiguration, when
// some location sets `magic_link_require on`.
ngx_int_t init_gate(ngx_conf_t* cf, size_t cache_size);

// $magic_link_user_id, $magic_link_user_email, $magic_link_user_role.
ngx_int_t add_gate_variables(ngx_conf_t* cf);

}  // namespace magic_link::ngx
