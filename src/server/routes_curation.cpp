// The curation page's API (candidates to keep or reject, exported into a training folder) and the sweep page's
// grid (a `prtkl sweep` output folder). Both are off unless the server was started with their folder.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "core/file_util.h"
#include "server/bounded_head_server.h"
#include "server/curation.h"
#include "server/http_server.h"
#include "server/routes.h"

namespace prtkl::server {

namespace fs = std::filesystem;

namespace {

Json candidate_json(const Candidate& c) {
  return {{"id", c.id},
          {"image_url", "/files/curation/" + c.file_name},
          {"caption", c.caption},
          {"decision", c.decision.empty() ? Json(nullptr) : Json(c.decision)}};
}

}  // namespace

void HttpServer::curation_routes() {
  auto& h = *http_;
  h.Get("/api/curation", [this](const httplib::Request&, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    Json list = Json::array();
    for (const auto& c : curation_->candidates()) list.push_back(candidate_json(c));
    // The folder's name only: answers carry no server paths (the log has the whole one).
    reply(res, 200, {{"candidates", list}, {"train_dir", fs::path(curation_->train_dir()).filename().string()}});
  });
  // Before the route of one candidate, which "export" would match too.
  h.Post("/api/curation/export", [this](const httplib::Request&, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    if (!curation_->export_owned())
      return reply_error(res, 409,
                         "the training folder holds files that no export wrote: start prtkl serve with an "
                         "empty or new --train-dir");
    const int written = curation_->export_kept();
    std::cerr << "curation: " << written << " written to " << curation_->train_dir() << "\n";
    reply(res, 200, {{"written", written}, {"folder", fs::path(curation_->train_dir()).filename().string()}});
  });
  h.Post(R"(/api/curation/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    std::string decision;
    try {
      const auto body = parse_body(req);
      const Json d = body.value("decision", Json(nullptr));  // depth-bounded by parse_body: copying is safe
      if (!d.is_null() && (!d.is_string() || (d != "keep" && d != "reject")))
        fail("\"decision\" must be \"keep\", \"reject\" or null");
      decision = d.is_null() ? "" : d.get<std::string>();
    } catch (const Error& e) {
      return reply_error(res, 400, e.what());
    }
    const auto id = req.matches[1].str();
    const auto known = curation_->candidates();
    if (std::none_of(known.begin(), known.end(), [&](const Candidate& c) { return c.id == id; }))
      return reply_error(res, 404, "unknown candidate");
    // Anything else that fails (writing decisions.json) is the server's: the exception handler's 500, path logged.
    reply(res, 200, candidate_json(curation_->decide(id, decision)));
  });

  h.Get("/api/sweep", [this](const httplib::Request&, httplib::Response& res) {
    if (options_.sweep_dir.empty()) return reply_error(res, 404, "no sweep: start prtkl serve with --sweep DIR");
    auto sweep = read_json_file((fs::path(options_.sweep_dir) / "sweep.json").string());
    for (auto& cell : sweep["cells"]) cell["url"] = "/files/sweep/" + cell.value("file", std::string());
    reply(res, 200, sweep);
  });
}

}  // namespace prtkl::server
