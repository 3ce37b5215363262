#include "server/curation.h"

#include <filesystem>
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

int Curation::export_kept() {
  std::lock_guard lock(mutex_);
  fs::create_directories(train_dir_);
  std::string metadata;
  int written = 0;
  for (const auto& c : candidates_) {
    const auto image = fs::path(train_dir_) / fs::path(c.file_name).filename();
    auto caption = image;
    caption.replace_extension(".txt");
    if (c.decision != "keep") {  // an earlier export may have written it
      fs::remove(image);
      fs::remove(caption);
      continue;
    }
    write_file_atomic(image.string(), read_file((fs::path(dir_) / c.file_name).string()));
    write_file_atomic(caption.string(), c.caption + "\n");
    metadata += Json({{"file_name", image.filename().string()}, {"text", c.caption}}).dump() + "\n";
    ++written;
  }
  write_file_atomic((fs::path(train_dir_) / "metadata.jsonl").string(), metadata);
  return written;
}

}  // namespace prtkl::server
