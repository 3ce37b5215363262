// Static files and result files: URL paths mapped under a root folder, refusing anything that could leave it
// (.. segments, encoded or not, backslashes, NUL, symlinks pointing outside).
#pragma once
#include <optional>
#include <string>

namespace prtkl::server {

// The file under `root` that `url_path` (already percent-decoded, starting with '/') names; a folder maps to
// its index.html. nullopt for unsafe paths and missing files.
std::optional<std::string> resolve_under(const std::string& root, const std::string& url_path);
// True when the decoded path contains a segment that tries to climb or escape (the caller answers 400).
bool is_unsafe_path(const std::string& url_path);
std::string mime_type(const std::string& path);

}  // namespace prtkl::server
