// Small helpers shared by subcommands.
#pragma once
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

}  // namespace prtkl::cli
