// Email addresses as the API accepts them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

// The address in lower case when it is one we will look up and mail to: ASCII
// local@domain.tld, at most 254 characters, a dot-atom local part (no quotes, spaces, control
// characters or angle brackets, so it can go into a mail header as is) and DNS labels.
// Anything else: nothing.
std::optional<std::string> normalize_email(std::string_view text);

}  // namespace magic_link
