// Small helpers shared by subcommands.
#pragma once
#include <string>
#include <vector>

#include "core/resources.h"

namespace prtkl::cli {

// "openai, offline" -> {"openai", "offline"}: comma-separated, spaces dropped, empty items skipped.
inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

// The lines of a --prompts (or `flag`) file: one a line, trimmed; blank lines and # comments skipped. Throws naming
// the flag and the file when it is missing or has none.
std::vector<std::string> read_prompts(const std::string& path, const std::string& flag = "--prompts");

// The model prtkl ships (models/prtkl-emoji, trained by models/recipe): what --model means when it is not given.
inline std::string bundled_model_path() { return resource_path("models/prtkl-emoji"); }

// --style's help, the same on generate, serve and worker.
inline constexpr const char* kStyleHelp =
    "style name (the model's styles/ or the models folder's), a style folder, or none (default: the model's "
    "default_style)";

}  // namespace prtkl::cli
