#include "server/static_files.h"

#include <filesystem>
#include <map>

namespace prtkl::server {

namespace fs = std::filesystem;

bool is_unsafe_path(const std::string& url_path) {
  if (url_path.empty() || url_path[0] != '/') return true;
  if (url_path.find('\0') != std::string::npos || url_path.find('\\') != std::string::npos) return true;
  size_t start = 1;
  while (start <= url_path.size()) {
    size_t end = url_path.find('/', start);
    if (end == std::string::npos) end = url_path.size();
    const auto segment = url_path.substr(start, end - start);
    if (segment == ".." || segment == "." || (start > 1 && segment.empty() && end != url_path.size())) return true;
    start = end + 1;
  }
  return false;
}

std::optional<std::string> resolve_under(const std::string& root, const std::string& url_path) {
  if (root.empty() || is_unsafe_path(url_path)) return std::nullopt;
  std::error_code ec;
  const auto base = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  auto path = fs::weakly_canonical(base / url_path.substr(1), ec);
  if (ec) return std::nullopt;
  if (fs::is_directory(path, ec)) path /= "index.html";
  path = fs::canonical(path, ec);  // resolves symlinks; fails for a missing file
  if (ec || !fs::is_regular_file(path, ec)) return std::nullopt;
  const auto rel = path.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") return std::nullopt;
  return path.string();
}

std::string mime_type(const std::string& path) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
      {".svg", "image/svg+xml"}, {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
      {".bin", "application/octet-stream"}, {".map", "application/json"}, {".webp", "image/webp"}};
  const auto it = types.find(fs::path(path).extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

}  // namespace prtkl::server
