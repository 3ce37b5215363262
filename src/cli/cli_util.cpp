#include "cli/cli_util.h"

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/strings.h"

namespace prtkl::cli {

std::vector<std::string> read_prompts(const std::string& path, const std::string& flag) {
  if (!std::filesystem::is_regular_file(path)) fail(flag, " ", path, ": no such file");
  std::vector<std::string> prompts;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (!line.empty() && line[0] != '#') prompts.push_back(line);
  }
  if (prompts.empty()) fail(flag, " ", path, ": nothing in it (one a line; blank lines and # comments are skipped)");
  return prompts;
}

}  // namespace prtkl::cli
