#include "core/render/templates.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <kainjow/mustache.hpp>

namespace magic_link {

namespace {

std::atomic<uint64_t> next_id{1};

}  // namespace

std::optional<Templates> Templates::load(const std::string& dir, std::string& error) {
  Templates templates;
  templates.id_ = next_id++;
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

// Parsed once per thread: kainjow's render is not const, so threads do not share a parse.
std::string Templates::render(std::string_view name, const TemplateValues& values) const {
  const auto found = sources_.find(name);
  if (found == sources_.end()) throw std::logic_error("no template " + std::string(name));
  thread_local std::map<std::pair<uint64_t, std::string>, kainjow::mustache::mustache> parsed;
  auto cached = parsed.find({id_, found->first});
  if (cached == parsed.end()) {
    cached =
        parsed
            .emplace(std::make_pair(id_, found->first), kainjow::mustache::mustache(found->second))
            .first;
  }
  kainjow::mustache::data data;
  for (const auto& [key, value] : values) {
    if (value.empty()) {
      data.set(key, kainjow::mustache::data(false));
    } else {
      data.set(key, value);
    }
  }
  return cached->second.render(data);
}

}  // namespace magic_link
