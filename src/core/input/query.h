// Query strings as the many parsers behind a site read them: where a token could hide, and how
// to write a request line into a log without one.
#pragma once

#include <string>
#include <string_view>

namespace magic_link {

// The byte of the escape "%XX" at text[at], or -1 when it is broken.
int escaped_byte(std::string_view text, size_t at);

// Whether a query names a `token` field in any spelling a common parser reads as one: any
// case, `;` as a separator, brackets (`token[]`), percent-encoding (also twice), blanks.
bool query_names_token(std::string_view query);

// The request line (or URI) with the value of every such token field replaced by "[masked]":
// what `$magic_link_request` logs instead of `$request`.
std::string mask_tokens(std::string_view request_line);

}  // namespace magic_link
