// The module's entry point for nginx: its directives and configuration hooks.
#include <vector>

#include "nginx/config.h"

namespace {

// In this file, so it is built before the module structure that points at it.
std::vector<ngx_command_t> command_table = magic_link::ngx::build_commands();

}  // namespace

ngx_module_t ngx_http_magic_link_module = {
    NGX_MODULE_V1,
    &magic_link::ngx::module_context,  // module context
    command_table.data(),              // module directives
    NGX_HTTP_MODULE,                   // module type
    nullptr,                           // init master
    nullptr,                           // init module
    nullptr,                           // init process
    nullptr,                           // init thread
    nullptr,                           // exit thread
    nullptr,                           // exit process
    nullptr,                           // exit master
    NGX_MODULE_V1_PADDING};
