// Mail and page templates (Mustache, via kainjow/mustache), read from a folder at configuration
// time so an operator edits them without recompiling and `nginx -t` reports a broken one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace magic_link {

// Values for a template; an empty value is false in a {{#section}}.
using TemplateValues = std::map<std::string, std::string, std::less<>>;

class Templates {
 public:
  // The templates every deployment needs; each file is `<name>` in the folder.
  static constexpr const char* kRequired[] = {"mail.html", "mail.txt", "page.html"};

  // Reads and checks them all; on failure `error` names the file and the problem.
  static std::optional<Templates> load(const std::string& dir, std::string& error);

  // {{name}} is HTML-escaped, {{{name}}} is not (use it in text templates).
  std::string render(std::string_view name, const TemplateValues& values) const;

 private:
  std::map<std::string, std::string, std::less<>> sources_;
  uint64_t id_ = 0;  // names this set in each thread's parsed copies
};

// The template sets a configuration loaded, by folder: how queued mail finds its location's.
using TemplateSets = std::map<std::string, const Templates*, std::less<>>;

}  // namespace magic_link
