// A JSON config file with typed accessors whose errors name the file and the field. Model sizes come from
// here (config.json of each component), never from constants in code.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace prtkl {

using Json = nlohmann::json;

Json read_json_file(const std::string& path);

class Config {
 public:
  Config() = default;
  Config(Json json, std::string source) : json_(std::move(json)), source_(std::move(source)) {}
  static Config load(const std::string& path) { return Config(read_json_file(path), path); }

  const Json& json() const { return json_; }
  const std::string& source() const { return source_; }
  // A key that is present and not null.
  bool has(const std::string& key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  template <typename T>
  T get(const std::string& key) const {
    if (!has(key)) fail(source_, ": field '", key, "' is missing");
    return convert<T>(key);
  }
  // Missing or null keys take the default, as diffusers' from_config does.
  template <typename T>
  T get_or(const std::string& key, T fallback) const {
    return has(key) ? convert<T>(key) : fallback;
  }
  // A field that is either a scalar or a list: returns a list of `n` entries (scalars are repeated).
  template <typename T>
  std::vector<T> get_list(const std::string& key, size_t n, T fallback) const {
    if (!has(key)) return std::vector<T>(n, fallback);
    if (!json_.at(key).is_array()) return std::vector<T>(n, convert<T>(key));
    auto v = convert<std::vector<T>>(key);
    if (v.size() != n) fail(source_, ": field '", key, "' has ", v.size(), " entries, expected ", n);
    return v;
  }

 private:
  template <typename T>
  T convert(const std::string& key) const {
    try {
      return json_.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(source_, ": field '", key, "' has the wrong type (", json_.at(key).dump(), ")");
    }
  }

  Json json_;
  std::string source_;
};

}  // namespace prtkl
