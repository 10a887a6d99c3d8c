#include "nginx/config.h"

#include <cstdlib>
#include <exception>
#include <vector>

#include "nginx/gate.h"
#include "nginx/limit_cache.h"
#include "nginx/routing.h"
#include "nginx/status.h"
#include "nginx/variables.h"

namespace magic_link::ngx {
namespace {

const ngx_str_t kDefaultThreadPool = ngx_string("default");
// About 20,000 checked sessions (an entry takes some 200-500 bytes).
constexpr size_t kDefaultSessionCacheSize = 10 * 1024 * 1024;

Args directive_args(ngx_conf_t* cf) {
  const auto* words = static_cast<ngx_str_t*>(cf->args->elts);
  Args args;
  for (ngx_uint_t i = 1; i < cf->args->nelts; ++i) args.emplace_back(view(words[i]));
  return args;
}

// Every setting directive lands here; `cmd->offset` is its row in the core's table.
char* set_setting(ngx_conf_t* cf, ngx_command_t* cmd, void* conf) noexcept try {
  auto* lcf = static_cast<LocationConf*>(conf);
  const SettingSpec& spec = setting_specs()[cmd->offset];
  // Only levels that set a directive get a table of their own (see merge_loc_conf).
  if (lcf->values == nullptr && (lcf->values = pool_new<DirectiveValues>(cf->pool)) == nullptr) {
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  if (lcf->values->has(spec.directive)) return const_cast<char*>("is duplicate");
  Args args = directive_args(cf);
  if (auto problem = check_directive(spec, args)) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", problem->c_str());
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  lcf->values->set(spec.directive, std::move(args));
  return NGX_CONF_OK;
} catch (const std::exception& e) {
  ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "magic_link: %s", e.what());
  return static_cast<char*>(NGX_CONF_ERROR);
}

char* set_endpoint(ngx_conf_t* cf, ngx_command_t*, void* conf) noexcept {
  auto* lcf = static_cast<LocationConf*>(conf);
  if (lcf->endpoint != Endpoint::none) return const_cast<char*>("is duplicate");
  const std::string_view name = view(static_cast<ngx_str_t*>(cf->args->elts)[1]);
  if (name == "api") {
    lcf->endpoint = Endpoint::api;
  } else if (name == "verify") {
    lcf->endpoint = Endpoint::verify;
  } else if (name == "ui") {
    lcf->endpoint = Endpoint::ui;
  } else if (name == "mailgun_webhook") {
    lcf->endpoint = Endpoint::mailgun_webhook;
  } else {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%*s\" in \"magic_link\": expected api, verify, ui or "
                       "mailgun_webhook",
                       name.size(), name.data());
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  auto* clcf = static_cast<ngx_http_core_loc_conf_t*>(
      ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
  clcf->handler = content_handler;
  auto* mcf =
      static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_magic_link_module));
  mcf->used = true;
  if (lcf->endpoint == Endpoint::api || lcf->endpoint == Endpoint::ui) {
    // Merging comes after parsing, so every location's settings see the whole list.
    if (clcf->regex != nullptr) {
      ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                         "magic_link: a regex location is not known to the redirectUrl check; "
                         "use a prefix or exact location for \"magic_link %*s\"",
                         name.size(), name.data());
    }
    mcf->module_locations->push_back(
        {std::string(view(clcf->name)), clcf->exact_match != 0, lcf->endpoint == Endpoint::ui});
  }
  return NGX_CONF_OK;
}

char* set_thread_pool(ngx_conf_t* cf, ngx_command_t*, void* conf) noexcept {
  auto* mcf = static_cast<MainConf*>(conf);
  if (mcf->thread_pool_name.data != nullptr) return const_cast<char*>("is duplicate");
  mcf->thread_pool_name = static_cast<ngx_str_t*>(cf->args->elts)[1];
  return NGX_CONF_OK;
}

ngx_str_t static_str(std::string_view text) {
  return {text.size(), reinterpret_cast<u_char*>(const_cast<char*>(text.data()))};
}

}  // namespace

std::vector<ngx_command_t> build_commands() {
  std::vector<ngx_command_t> table;
  table.push_back({ngx_string("magic_link"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, set_endpoint,
                   NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr});
  table.push_back({ngx_string("magic_link_status"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, set_status,
                   NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr});
  table.push_back({ngx_string("magic_link_thread_pool"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
                   set_thread_pool, NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr});
  table.push_back({ngx_string("magic_link_session_cache_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
                   ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET,
                   offsetof(MainConf, session_cache_size), nullptr});
  const auto& specs = setting_specs();
  for (ngx_uint_t row = 0; row < specs.size(); ++row) {
    const SettingSpec& spec = specs[row];
    const ngx_uint_t where = spec.scope == Scope::Http
                                 ? NGX_HTTP_MAIN_CONF
                                 : NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;
    const ngx_uint_t arity = spec.takes_list ? NGX_CONF_1MORE : NGX_CONF_TAKE1;
    table.push_back({static_str(spec.directive), where | arity, set_setting,
                     NGX_HTTP_LOC_CONF_OFFSET, row, nullptr});
  }
  table.push_back(ngx_null_command);
  return table;
}

namespace {

// What a worker's environment says; nginx reads configuration before it clears the environment.
std::optional<std::string> process_env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void* create_main_conf(ngx_conf_t* cf) noexcept try {
  auto* mcf = static_cast<MainConf*>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
  if (mcf == nullptr) return nullptr;
  mcf->session_cache_size = NGX_CONF_UNSET_SIZE;
  mcf->module_locations = pool_new<std::vector<ModuleLocation>>(cf->pool);
  mcf->template_sets = pool_new<TemplateSets>(cf->pool);
  return mcf->module_locations && mcf->template_sets ? mcf : nullptr;
} catch (const std::exception&) {
  return nullptr;
}

void* create_loc_conf(ngx_conf_t* cf) noexcept {
  // Zeroed: no endpoint, no directive values; nothing more for locations without the module.
  return ngx_pcalloc(cf->pool, sizeof(LocationConf));
}

// A level's directive values; none set anywhere above it reads as an empty table.
const DirectiveValues& values_of(const LocationConf& lcf) {
  static const DirectiveValues kNone;
  return lcf.values != nullptr ? *lcf.values : kNone;
}

const Settings* resolve(ngx_conf_t* cf, const DirectiveValues& values) {
  SettingsOrError resolved = resolve_settings(values, process_env, MAGIC_LINK_DEFAULT_TEMPLATES);
  if (!resolved.settings) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", resolved.error.c_str());
    return nullptr;
  }
  const auto* mcf =
      static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_magic_link_module));
  Settings& settings = *resolved.settings;
  settings.module_locations = *mcf->module_locations;
  if (settings.sign_in_url.empty()) {  // the first `magic_link ui` location
    for (const ModuleLocation& location : settings.module_locations) {
      if (location.sign_in) {
        settings.sign_in_url = location.path;
        break;
      }
    }
  }
  if (settings.require_session && settings.sign_in_url.empty()) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"magic_link_require on\" needs a sign-in page: set "
                       "\"magic_link_sign_in_url\" or add a location with \"magic_link ui\"");
    return nullptr;
  }
  return pool_new<Settings>(cf->pool, std::move(settings));
}

// The templates in `dir`, read and checked once per configuration (locations sharing a folder
// share them), and registered for the mail sender.
const Templates* template_set(ngx_conf_t* cf, const std::string& dir) {
  auto& sets =
      *static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_magic_link_module))
           ->template_sets;
  if (const auto found = sets.find(dir); found != sets.end()) return found->second;
  std::string problem;
  auto templates = Templates::load(dir, problem);
  if (!templates) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "magic_link: %s", problem.c_str());
    return nullptr;
  }
  const Templates* loaded = pool_new<Templates>(cf->pool, std::move(*templates));
  if (loaded != nullptr) sets.emplace(dir, loaded);
  return loaded;
}

char* merge_loc_conf(ngx_conf_t* cf, void* parent_conf, void* child_conf) noexcept try {
  const auto* parent = static_cast<LocationConf*>(parent_conf);
  auto* child = static_cast<LocationConf*>(child_conf);
  if (child->values == nullptr) {
    child->values = parent->values;  // nothing set here: share the level above's table
  } else if (parent->values != nullptr) {
    child->values->inherit(*parent->values);
  }
  // Settings only where they are used: an endpoint, or a location that may be gated.
  const bool gate_set = values_of(*child).has("magic_link_require");
  if (child->endpoint == Endpoint::none && !gate_set) return NGX_CONF_OK;

  child->settings = resolve(cf, values_of(*child));
  if (child->settings == nullptr) return static_cast<char*>(NGX_CONF_ERROR);
  if (child->endpoint == Endpoint::mailgun_webhook &&
      child->settings->mailgun.webhook_signing_key.empty()) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "magic_link: \"magic_link mailgun_webhook\" needs Mailgun's webhook "
                       "signing key: set \"magic_link_mailgun_webhook_signing_key\" or "
                       "MAGIC_LINK_MAILGUN_WEBHOOK_SIGNING_KEY");
    return static_cast<char*>(NGX_CONF_ERROR);
  }
  if (child->endpoint == Endpoint::none && child->settings->require_session) {
    auto* mcf =
        static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_magic_link_module));
    mcf->used = mcf->gated = true;
  }
  child->templates = template_set(cf, child->settings->templates_dir);
  return child->templates ? NGX_CONF_OK : static_cast<char*>(NGX_CONF_ERROR);
} catch (const std::exception& e) {
  ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "magic_link: %s", e.what());
  return static_cast<char*>(NGX_CONF_ERROR);
}

// Resolves the http{}-level settings that the backends and the mail sender use, and registers
// the thread pool so nginx creates it; the pool named "default" needs no `thread_pool` line.
ngx_int_t postconfiguration(ngx_conf_t* cf) noexcept try {
  auto* mcf =
      static_cast<MainConf*>(ngx_http_conf_get_module_main_conf(cf, ngx_http_magic_link_module));
  if (!mcf->used) return NGX_OK;
  ngx_conf_init_size_value(mcf->session_cache_size, kDefaultSessionCacheSize);
  if (mcf->gated && init_gate(cf, mcf->session_cache_size) != NGX_OK) return NGX_ERROR;
  if (add_limit_cache(cf) != NGX_OK || add_metrics_zone(cf) != NGX_OK) return NGX_ERROR;
  const auto* http_level =
      static_cast<LocationConf*>(ngx_http_conf_get_module_loc_conf(cf, ngx_http_magic_link_module));
  mcf->shared = resolve(cf, values_of(*http_level));
  if (mcf->shared == nullptr || template_set(cf, mcf->shared->templates_dir) == nullptr) {
    return NGX_ERROR;
  }
  mcf->sealer = pool_new<Sealer>(cf->pool, accepted_secrets(*mcf->shared));
  if (mcf->thread_pool_name.data == nullptr) mcf->thread_pool_name = kDefaultThreadPool;
  mcf->thread_pool = ngx_thread_pool_add(cf, &mcf->thread_pool_name);
  return mcf->sealer && mcf->thread_pool ? NGX_OK : NGX_ERROR;
} catch (const std::exception& e) {
  ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "magic_link: %s", e.what());
  return NGX_ERROR;
}

}  // namespace

ngx_http_module_t module_context = {
    add_variables,      // preconfiguration
    postconfiguration,  // postconfiguration
    create_main_conf,   // create main configuration
    nullptr,            // init main configuration
    nullptr,            // create server configuration
    nullptr,            // merge server configuration
    create_loc_conf,    // create location configuration
    merge_loc_conf,     // merge location configuration
};

}  // namespace magic_link::ngx
