// The module's entry point for nginx: its directives, configuration and process hooks.
#include <curl/curl.h>

#include <vector>

#include "core/adapters/mail/sendmail_mailer.h"
#include "nginx/background.h"
#include "nginx/config.h"

namespace {

// In this file, so it is built before the module structure that points at it.
std::vector<ngx_command_t> command_table = magic_link::ngx::build_commands();

// libcurl's global state must exist before any thread makes a handle.
ngx_int_t init_module(ngx_cycle_t* cycle) noexcept {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "magic_link: curl_global_init() failed");
    return NGX_ERROR;
  }
  return NGX_OK;
}

ngx_int_t init_process(ngx_cycle_t* cycle) noexcept {
  const auto* conf = static_cast<magic_link::ngx::MainConf*>(
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_magic_link_module));
  if (conf != nullptr && conf->used &&
      conf->shared->mail_transport == magic_link::MailTransport::sendmail) {
    magic_link::reap_children_ourselves();
  }
  return magic_link::ngx::start_background(cycle);
}

}  // namespace

ngx_module_t ngx_http_magic_link_module = {NGX_MODULE_V1,
                                           &magic_link::ngx::module_context,  // module context
                                           command_table.data(),              // module directives
                                           NGX_HTTP_MODULE,                   // module type
                                           nullptr,                           // init master
                                           init_module,                       // init module
                                           init_process,                      // init process
                                           nullptr,                           // init thread
                                           nullptr,                           // exit thread
                                           nullptr,                           // exit process
                                           nullptr,                           // exit master
                                           NGX_MODULE_V1_PADDING};
