// Redirect targets: only URLs under an allow-listed prefix are ever put in a mail or a Location.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.h"

namespace magic_link {

// The normalised URL when `text` is an http(s) URL whose origin equals an allowed one and whose
// path lies under that entry's path prefix ("/app" allows "/app" and "/app/x", not "/apple").
// URLs with user info, a fragment, a `token` query field or a %2e in the path are refused: the
// token is appended as a query parameter, and browsers read %2e%2e as "..".
std::optional<std::string> allowed_redirect(std::string_view text,
                                            const std::vector<UrlPrefix>& allow_list);

// `base?token=T`, or `base&token=T` when the base already has a query.
std::string link_with_token(std::string_view base, std::string_view token);

}  // namespace magic_link
