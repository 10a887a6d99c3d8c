#include "core/input/query.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace magic_link {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Percent-decodes `text` once, '+' as a space; nothing for a broken escape.
std::optional<std::string> decode_form_once(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i] == '+' ? ' ' : text[i];
      continue;
    }
    const int byte = escaped_byte(text, i);
    if (byte < 0) return std::nullopt;
    out += static_cast<char>(byte);
    i += 2;
  }
  return out;
}

// A field name as lenient parsers read it: decoded (a few times, for double encoding), cut at a
// NUL and at a bracket suffix, trimmed, lower-cased.
bool names_token(std::string_view raw) {
  std::string name(raw);
  std::replace(name.begin(), name.end(), '+', ' ');
  for (int round = 0; round < 3 && name.find('%') != std::string::npos; ++round) {
    auto decoded = decode_form_once(name);
    if (!decoded) break;
    name = std::move(*decoded);
  }
  name = name.substr(0, name.find('\0'));
  name = name.substr(0, name.find('['));
  const auto blank = [](unsigned char c) { return c <= 0x20 || c == 0x7f; };
  while (!name.empty() && blank(name.front())) name.erase(name.begin());
  while (!name.empty() && blank(name.back())) name.pop_back();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name == "token";
}

// Calls visit(name, value_start, value_end) for each field of `query` (split on & and ;).
template <typename Visit>
void for_each_field(std::string_view query, Visit visit) {
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find_first_of("&;", start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    visit(pair.substr(0, eq), eq == std::string_view::npos ? end : start + eq + 1, end);
    start = end + 1;
  }
}

}  // namespace

int escaped_byte(std::string_view text, size_t at) {
  if (at + 2 >= text.size()) return -1;
  const int high = hex_value(text[at + 1]);
  const int low = hex_value(text[at + 2]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

bool query_names_token(std::string_view query) {
  bool found = false;
  for_each_field(query, [&](std::string_view name, size_t, size_t) {
    found = found || (!name.empty() && names_token(name));
  });
  return found;
}

std::string mask_tokens(std::string_view request_line) {
  const size_t question = request_line.find('?');
  if (question == std::string_view::npos) return std::string(request_line);
  // The query runs to the protocol after the URI ("GET /p?q HTTP/1.1"), or to the end: the
  // last space, so a space inside the URI cannot end the query early.
  size_t query_end = request_line.rfind(' ');
  if (query_end == std::string_view::npos || query_end < question) query_end = request_line.size();
  const std::string_view query = request_line.substr(question + 1, query_end - question - 1);

  std::string masked(request_line.substr(0, question + 1));
  size_t copied = 0;
  for_each_field(query, [&](std::string_view name, size_t value_start, size_t value_end) {
    if (name.empty() || !names_token(name) || value_start >= value_end) return;
    masked.append(query.substr(copied, value_start - copied));
    masked += "[masked]";
    copied = value_end;
  });
  masked.append(query.substr(copied));
  masked.append(request_line.substr(query_end));
  return masked;
}

}  // namespace magic_link
