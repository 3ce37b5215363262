#include "server/curation.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"

namespace prtkl::server {

namespace fs = std::filesystem;

Curation::Curation(std::string dir, std::string train_dir) : dir_(std::move(dir)), train_dir_(std::move(train_dir)) {
  const auto list = (fs::path(dir_) / "candidates.jsonl").string();
  std::istringstream lines(read_file(list));
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const std::exception& e) {
      fail(list, ":", n, ": not JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("file_name") || !j["file_name"].is_string())
      fail(list, ":", n, ": needs a string field file_name");
    Candidate c;
    c.file_name = j["file_name"].get<std::string>();
    if (c.file_name.find("..") != std::string::npos || fs::path(c.file_name).is_absolute())
      fail(list, ":", n, ": file_name must stay inside the folder");
    c.caption = j.value("text", std::string());
    c.id = fs::path(c.file_name).stem().string();
    candidates_.push_back(std::move(c));
  }
  const auto decisions = (fs::path(dir_) / "decisions.json").string();
  if (fs::exists(decisions)) {
    const auto j = read_json_file(decisions);
    for (auto& c : candidates_)
      if (j.contains(c.id) && j[c.id].is_string()) c.decision = j[c.id].get<std::string>();
  }
}

std::vector<Candidate> Curation::candidates() {
  std::lock_guard lock(mutex_);
  return candidates_;
}

void Curation::save_decisions_locked() {
  Json j = Json::object();
  for (const auto& c : candidates_)
    if (!c.decision.empty()) j[c.id] = c.decision;
  write_file_atomic((fs::path(dir_) / "decisions.json").string(), j.dump(2) + "\n");
}

Candidate Curation::decide(const std::string& id, const std::string& decision) {
  if (decision != "keep" && decision != "reject" && !decision.empty())
    fail("decision must be \"keep\", \"reject\" or null, got \"", decision, "\"");
  std::lock_guard lock(mutex_);
  for (auto& c : candidates_) {
    if (c.id != id) continue;
    c.decision = decision;
    save_decisions_locked();
    return c;
  }
  fail("unknown candidate '", id, "'");
}

namespace {

constexpr const char* kManifest = ".prtkl-export.json";

// The files an earlier export wrote. Only plain names in the folder itself count: a manifest edited to point
// elsewhere cannot make an export delete anything outside it.
std::set<std::string> read_manifest(const fs::path& dir) {
  std::set<std::string> files;
  const auto path = dir / kManifest;
  if (!fs::exists(path)) return files;
  const auto j = read_json_file(path.string());
  if (j.contains("files") && j["files"].is_array())
    for (const auto& f : j["files"])
      if (f.is_string()) {
        const auto name = f.get<std::string>();
        if (!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos && name != kManifest)
          files.insert(name);
      }
  return files;
}

void write_manifest(const fs::path& dir, const std::set<std::string>& files) {
  write_file_atomic((dir / kManifest).string(),
                    Json({{"written_by", "prtkl serve --curation"}, {"files", files}}).dump(2) + "\n");
}

}  // namespace

bool Curation::export_owned_locked() const {
  std::error_code ec;
  const fs::path dir(train_dir_);
  if (!fs::exists(dir, ec)) return true;
  return fs::exists(dir / kManifest, ec) || fs::is_empty(dir, ec);
}

bool Curation::export_owned() {
  std::lock_guard lock(mutex_);
  return export_owned_locked();
}

int Curation::export_kept() {
  std::lock_guard lock(mutex_);
  if (!export_owned_locked())
    fail(train_dir_, " holds files that no export wrote: export into an empty or new folder (--train-dir)");
  const fs::path dir(train_dir_);
  fs::create_directories(dir);
  const auto before = read_manifest(dir);
  std::set<std::string> now = {"metadata.jsonl"};
  for (const auto& c : candidates_) {
    if (c.decision != "keep") continue;
    const auto image = fs::path(c.file_name).filename();
    now.insert(image.string());
    now.insert(fs::path(image).replace_extension(".txt").string());
  }
  // Listed before they are written, so a killed export still knows them next time.
  std::set<std::string> all = before;
  all.insert(now.begin(), now.end());
  write_manifest(dir, all);

  std::string metadata;
  int written = 0;
  for (const auto& c : candidates_) {
    if (c.decision != "keep") continue;
    const auto image = dir / fs::path(c.file_name).filename();
    write_file_atomic(image.string(), read_file((fs::path(dir_) / c.file_name).string()));
    write_file_atomic(fs::path(image).replace_extension(".txt").string(), c.caption + "\n");
    metadata += Json({{"file_name", image.filename().string()}, {"text", c.caption}}).dump() + "\n";
    ++written;
  }
  write_file_atomic((dir / "metadata.jsonl").string(), metadata);
  for (const auto& name : before)  // an earlier export's files of candidates no longer kept
    if (!now.count(name)) fs::remove(dir / name);
  write_manifest(dir, now);
  return written;
}

}  // namespace prtkl::server
