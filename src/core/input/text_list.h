// Lists carried as one text: role ids joined by commas (no role id holds one), cached fields by
// newlines.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace magic_link {

inline std::string join_list(const std::vector<std::string>& items, char separator) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) text += separator;
    text += items[i];
  }
  return text;
}

// The items of `text`; an empty text is no item.
inline std::vector<std::string> split_list(std::string_view text, char separator) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  for (size_t start = 0;;) {
    const size_t end = std::min(text.find(separator, start), text.size());
    items.emplace_back(text.substr(start, end - start));
    if (end == text.size()) return items;
    start = end + 1;
  }
}

}  // namespace magic_link
