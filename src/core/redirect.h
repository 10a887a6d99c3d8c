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
// URLs with user info or a fragment are refused: the token is appended as a query parameter.
std::optional<std::string> allowed_redirect(std::string_view text,
                                            const std::vector<UrlPrefix>& allow_list);

// `base?token=T`, or `base&token=T` when the base already has a query.
std::string link_with_token(std::string_view base, std::string_view token);

}  // namespace magic_link
