#include "core/render/templates.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <kainjow/mustache.hpp>

namespace magic_link {

std::optional<Templates> Templates::load(const std::string& dir, std::string& error) {
  Templates templates;
  for (const char* name : kRequired) {
    const std::string path = dir + "/" + name;
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      error = "cannot read template \"" + path + "\"";
      return std::nullopt;
    }
    std::ostringstream text;
    text << file.rdbuf();
    const kainjow::mustache::mustache parsed(text.str());
    if (!parsed.is_valid()) {
      error = "template \"" + path + "\": " + parsed.error_message();
      return std::nullopt;
    }
    templates.sources_.emplace(name, text.str());
  }
  return templates;
}

// Parsed per call: kainjow's render is not const, and these are small.
std::string Templates::render(std::string_view name, const TemplateValues& values) const {
  const auto found = sources_.find(name);
  if (found == sources_.end()) throw std::logic_error("no template " + std::string(name));
  kainjow::mustache::data data;
  for (const auto& [key, value] : values) {
    if (value.empty()) {
      data.set(key, kainjow::mustache::data(false));
    } else {
      data.set(key, value);
    }
  }
  kainjow::mustache::mustache parsed(found->second);
  return parsed.render(data);
}

}  // namespace magic_link
