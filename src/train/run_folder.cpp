#include "train/run_folder.h"

#include <algorithm>

namespace prtkl {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

RunFolder::RunFolder(fs::path dir, std::string name) : dir_(std::move(dir)), name_(std::move(name)) {}

std::string RunFolder::checkpoint_name(int64_t step) { return "checkpoint-" + std::to_string(step); }

int64_t RunFolder::checkpoint_step(const fs::path& dir) {
  const auto name = dir.filename().string();
  constexpr size_t prefix = 11;  // "checkpoint-"
  if (name.rfind("checkpoint-", 0) != 0) return -1;
  const auto digits = name.substr(prefix);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

std::vector<std::pair<int64_t, fs::path>> RunFolder::checkpoints() const {
  std::vector<std::pair<int64_t, fs::path>> all;
  if (!fs::is_directory(dir_)) return all;
  for (const auto& e : fs::directory_iterator(dir_))
    if (const auto step = checkpoint_step(e.path()); step >= 0 && e.is_directory()) all.emplace_back(step, e.path());
  std::sort(all.begin(), all.end());
  return all;
}

std::optional<fs::path> RunFolder::latest_resumable() const {
  const auto all = checkpoints();
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    if (fs::exists(it->second / kStateJson)) return it->second;
  return std::nullopt;
}

std::optional<fs::path> RunFolder::embeddings_in(const fs::path& dir) const {
  if (!name_.empty() && fs::is_regular_file(dir / embeddings_file())) return dir / embeddings_file();
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto f = e.path().filename().string();
    if (e.is_regular_file() && f.size() > 16 && ends_with(f, "_emb.safetensors")) found.push_back(e.path());
  }
  if (found.size() == 1) return found.front();
  return std::nullopt;
}

void RunFolder::remove_partial_writes() const {
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.path().filename().string().find(".partial") != std::string::npos) fs::remove_all(e.path());
}

void RunFolder::keep_newest(int64_t keep) const {
  if (keep <= 0) return;
  const auto all = checkpoints();
  for (size_t i = 0; i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove_all(all[i].second);
}

}  // namespace prtkl
