// Files prtkl reads from its source tree at run time (web/dist, configs/, third_party/, the bundled model).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace prtkl {

// A path in the source tree: under $PRTKL_HOME when set, else beside the build folder of this binary
// (build/prtkl -> <repo>/<rel>).
inline std::string resource_path(const std::string& rel) {
  namespace fs = std::filesystem;
  if (const char* home = std::getenv("PRTKL_HOME"); home && *home) return (fs::path(home) / rel).string();
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? rel : (exe.parent_path().parent_path() / rel).string();
}

}  // namespace prtkl
