// Files: what jobs, curation and a sweep made (/files/...), and the web app itself (every other GET path).
#include <filesystem>
#include <set>

#include "core/file_util.h"
#include "server/bounded_head_server.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/routes.h"
#include "server/static_files.h"

namespace prtkl::server {

namespace fs = std::filesystem;

namespace {

void serve_file(httplib::Response& res, const std::string& root, const std::string& rel_path) {
  if (is_unsafe_path(rel_path)) return reply_error(res, 400, "bad path");
  const auto file = resolve_under(root, rel_path);
  if (!file) return reply_error(res, 404, "not found");
  // No status: httplib makes it 206 for a range (a set 200 went out with the partial body).
  res.set_content(read_file(*file), mime_type(*file).c_str());
}

// Result, candidate and sweep folders may hold anything a user put there; of it only pictures, JSON, particle
// binaries and text are served, never a page or script that would run on this origin.
bool servable_result(const std::string& path) {
  static const std::set<std::string> types = {".png", ".jpg", ".jpeg", ".webp", ".json", ".bin", ".txt"};
  return types.count(fs::path(path).extension().string()) > 0;
}

}  // namespace

void HttpServer::file_routes() {
  auto& h = *http_;
  h.Get(R"(/files/(jobs|curation|sweep)(/.*))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto area = req.matches[1].str();
    std::string root;
    if (area == "jobs") root = (fs::path(options_.data_dir) / "jobs").string();
    if (area == "curation" && curation_) root = curation_->dir();
    if (area == "sweep") root = options_.sweep_dir;
    if (root.empty() || !servable_result(req.matches[2].str())) return reply_error(res, 404, "not found");
    serve_file(res, root, req.matches[2].str());
  });

  // Every path no other route matched: routes are tried in the order they were registered, so this one is last.
  h.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    serve_file(res, options_.web_root, req.path);
  });
}

}  // namespace prtkl::server
