// Small helpers shared by subcommands.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

// A path in the source tree (web/dist, configs/...): under $PRTKL_HOME when set, else beside the build folder of
// this binary (build/prtkl -> <repo>/<rel>).
inline std::string source_path(const std::string& rel) {
  namespace fs = std::filesystem;
  if (const char* home = std::getenv("PRTKL_HOME"); home && *home) return (fs::path(home) / rel).string();
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? rel : (exe.parent_path().parent_path() / rel).string();
}

// The model prtkl ships (models/prtkl-emoji, trained by models/recipe): what --model means when it is not given.
inline std::string bundled_model_path() { return source_path("models/prtkl-emoji"); }

}  // namespace prtkl::cli
