#include "core/json_config.h"

#include "core/file_util.h"

namespace prtkl {

Json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": invalid JSON (", e.what(), ")");
  }
}

}  // namespace prtkl
