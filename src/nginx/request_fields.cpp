#include "nginx/request_fields.h"

namespace magic_link::ngx {

std::string_view header(ngx_http_request_t* r, std::string_view name) {
  const ngx_list_part_t* part = &r->headers_in.headers.part;
  for (; part != nullptr; part = part->next) {
    const auto* headers = static_cast<const ngx_table_elt_t*>(part->elts);
    for (ngx_uint_t i = 0; i < part->nelts; ++i) {
      if (headers[i].key.len == name.size() &&
          ngx_strncasecmp(headers[i].key.data,
                          reinterpret_cast<u_char*>(const_cast<char*>(name.data())),
                          name.size()) == 0) {
        return view(headers[i].value);
      }
    }
  }
  return {};
}

std::string cookie(ngx_http_request_t* r, std::string_view name) {
  ngx_str_t wanted{name.size(), reinterpret_cast<u_char*>(const_cast<char*>(name.data()))};
  ngx_str_t value{0, nullptr};
  if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &wanted, &value) == NGX_DECLINED) {
    return {};
  }
  return std::string(view(value));
}

GateCookies directus_cookies(ngx_http_request_t* r) {
  return {cookie(r, "directus_session_token"), cookie(r, "directus_refresh_token")};
}

bool accepts_html(ngx_http_request_t* r) {
  return header(r, "Accept").find("text/html") != std::string_view::npos;
}

}  // namespace magic_link::ngx
