// Configuration of the module as nginx holds it: directive values per level, merged downwards,
// resolved into the core's immutable Settings where a location serves magic links.
#pragma once

#include <vector>

#include "core/settings.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

enum class Endpoint : ngx_uint_t { none, api, verify, ui };

struct LocationConf {
  Endpoint endpoint;
  DirectiveValues* values;   // given at this level, then inherited at merge (pool-owned)
  const Settings* settings;  // resolved at merge, where `endpoint` is set (pool-owned)
};

struct MainConf {
  ngx_str_t thread_pool_name;
  ngx_thread_pool_t* thread_pool;
  bool used;  // some location has a `magic_link` endpoint
};

// The `magic_link` directive, `magic_link_thread_pool`, and one directive per core setting.
std::vector<ngx_command_t> build_commands();
extern ngx_http_module_t module_context;

}  // namespace magic_link::ngx
