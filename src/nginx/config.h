// Configuration of the module as nginx holds it: directive values per level, merged downwards,
// resolved into the core's immutable Settings where a location serves magic links.
#pragma once

#include <vector>

#include "core/crypto/seal.h"
#include "core/config/settings.h"
#include "core/render/templates.h"
#include "nginx/ngx.h"

namespace magic_link::ngx {

enum class Endpoint : ngx_uint_t { none, api, verify, ui, mailgun_webhook };

// Objects behind the pointers are pool-owned C++ objects (see pool_new).
struct LocationConf {
  Endpoint endpoint;
  DirectiveValues* values;     // given at this level, then inherited at merge; null: none
                               // set here (merge then shares the level above's table)
  const Settings* settings;    // resolved at merge, where `endpoint` or the gate is set
  const Templates* templates;  // read at merge, where `endpoint` or the gate is set
};

struct MainConf {
  ngx_str_t thread_pool_name;
  ngx_thread_pool_t* thread_pool;
  bool used;                  // some location has a `magic_link` endpoint or gate
  bool gated;                 // some location has `magic_link_require on`
  size_t session_cache_size;  // magic_link_session_cache_size: the gate's shared memory zone
  std::vector<ModuleLocation>* module_locations;  // its api and ui locations
  const Settings* shared;       // the http{} level: backends for every location and the mail sender
  const Sealer* sealer;         // seals and opens queued mail
  TemplateSets* template_sets;  // every location's templates (and the http{} level's), by folder
};

inline MainConf& main_conf(ngx_http_request_t* r) {
  return *static_cast<MainConf*>(ngx_http_get_module_main_conf(r, ngx_http_magic_link_module));
}

inline const LocationConf& location_conf(ngx_http_request_t* r) {
  return *static_cast<LocationConf*>(ngx_http_get_module_loc_conf(r, ngx_http_magic_link_module));
}

// The `magic_link` directive, `magic_link_thread_pool`, and one directive per core setting.
std::vector<ngx_command_t> build_commands();
extern ngx_http_module_t module_context;

}  // namespace magic_link::ngx
