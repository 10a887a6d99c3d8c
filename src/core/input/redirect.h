// Redirect targets: only URLs under an allow-listed prefix are ever put in a mail or a Location,
// and never a URL of the module's own endpoints, whose GET could spend the mailed token.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/settings.h"

namespace magic_link {

// The path as nginx routes it: percent-escapes decoded and runs of slashes merged. Nothing when
// the path holds an encoded '/', '\' or '.' (a browser or a proxy may read them as separators
// or dot segments after the check), an encoded NUL or control character, or a broken escape.
std::optional<std::string> routed_path(std::string_view path);

// Whether a query names a `token` field in any spelling a common parser reads as one: any
// case, `;` as a separator, brackets (`token[]`), percent-encoding, surrounding blanks.
bool query_names_token(std::string_view query);

// The normalised URL when `text` is an http(s) URL whose origin equals an allowed one and whose
// routed path lies under that entry's path prefix ("/app" allows "/app" and "/app/x", not
// "/apple"), and which does not route into one of `settings.module_locations` (whatever the
// allow-list says). URLs with user info, a fragment, a non-ASCII host, a token field, an empty
// path segment or an ambiguous path (see routed_path) are refused: the token is appended as a query
// parameter.
std::optional<std::string> allowed_redirect(std::string_view text, const Settings& settings);

// Where a browser the gate sent to sign in returns: `text` when it is a path on this site with
// its query (at most 2048 bytes), starting with one '/' and holding no '\\', no blank, control
// or non-ASCII byte, no fragment and no percent-encoded '/', '\\' or control character, so no
// browser or proxy can read it as another host. Nothing otherwise.
std::optional<std::string> return_target(std::string_view text);

// `base?token=T`, or `base&token=T` when the base already has a query.
std::string link_with_token(std::string_view base, std::string_view token);

}  // namespace magic_link
