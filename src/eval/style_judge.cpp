#include "eval/style_judge.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/image.h"
#include "core/json_config.h"
#include "data/emoji_styles.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

// npm file names (e.g. "1f600.png") that every style has a 64 px picture of, sorted.
std::vector<std::string> shared_files(const fs::path& npm) {
  std::vector<std::string> files;
  bool first = true;
  for (const auto& style : kEmojiStyles) {
    const auto dir = npm / style.package / "img" / style.name / "64";
    if (!fs::is_directory(dir)) fail(dir.string(), ": missing (install the npm package ", style.package, ")");
    std::vector<std::string> here;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".png") here.push_back(e.path().filename().string());
    std::sort(here.begin(), here.end());
    if (first) {
      files = here;
    } else {
      std::vector<std::string> both;
      std::set_intersection(files.begin(), files.end(), here.begin(), here.end(), std::back_inserter(both));
      files = both;
    }
    first = false;
  }
  return files;
}

}  // namespace

Judge prepare_style_judge(const std::string& npm_dir, const std::string& path, const StyleJudgeOptions& o,
                          StyleJudgeReport& report, const std::function<void(const JudgeTrainStep&)>& on_step) {
  if (o.per_style < 1 || o.held_out_percent < 1 || o.held_out_percent > 50)
    fail("style judge: per_style must be positive and held_out_percent in [1, 50]");
  const fs::path npm(npm_dir);
  const auto files = shared_files(npm);
  // Held out by a hash of the emoji's name; the training pictures an even spread of the rest.
  std::vector<std::string> train_files, held_files;
  for (const auto& f : files)
    (std::stoull(content_hash(f).substr(0, 8), nullptr, 16) % 100 < static_cast<uint64_t>(o.held_out_percent)
         ? held_files
         : train_files)
        .push_back(f);
  if (files.size() < 2) fail(npm_dir, ": too few emoji pictures for the style judge (", files.size(), ")");
  if (held_files.empty()) held_files.push_back(train_files.back()), train_files.pop_back();  // a tiny set
  if (train_files.empty()) train_files.push_back(held_files.back()), held_files.pop_back();
  const auto stride = std::max<size_t>(1, train_files.size() / static_cast<size_t>(o.per_style));
  std::vector<std::string> spread;
  for (size_t i = 0; i < train_files.size() && spread.size() < static_cast<size_t>(o.per_style); i += stride)
    spread.push_back(train_files[i]);
  train_files = spread;

  std::ostringstream manifest;
  const auto& j = o.judge;
  manifest << "style judge " << Json(j.widths).dump() << " " << j.steps << " " << j.batch_size << " " << j.lr << " "
           << j.weight_decay << " " << j.label_smoothing << " " << j.seed << "\n";
  if (o.round_trip) manifest << "round trip " << o.round_trip_id << "\n";
  std::vector<std::string> labels;
  // Pictures of `names` in every style, with their labels; each file is read once and hashed into the manifest.
  const auto read_all = [&](const std::vector<std::string>& names, const char* part, torch::Tensor& y) {
    std::vector<torch::Tensor> x;
    std::vector<int64_t> ys;
    for (size_t s = 0; s < std::size(kEmojiStyles); ++s)
      for (const auto& name : names) {
        const auto file = npm / kEmojiStyles[s].package / "img" / kEmojiStyles[s].name / "64" / name;
        const auto bytes = read_file(file.string());
        manifest << part << " " << kEmojiStyles[s].name << "/" << name << " " << content_hash(bytes) << "\n";
        x.push_back(image_tensor(decode_image(bytes, file.string())));
        ys.push_back(static_cast<int64_t>(s));
      }
    y = torch::tensor(ys, torch::kLong);
    return torch::stack(x);
  };
  for (const auto& style : kEmojiStyles) labels.push_back(style.look);
  torch::Tensor train_y, held_y;
  const auto train_raw = read_all(train_files, "train", train_y);
  const auto held_raw = read_all(held_files, "held-out", held_y);
  // The round trips in batches (a decoder's activations for thousands of pictures at once would not fit).
  const auto round_trips = [&](const torch::Tensor& raw) {
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < raw.size(0); i += 128) out.push_back(judge_input(o.round_trip(raw.slice(0, i, i + 128))));
    return torch::cat(out);
  };
  auto train_x = judge_input(train_raw);
  const auto held_x = judge_input(held_raw);
  torch::Tensor held_trip;
  if (o.round_trip) {
    train_x = torch::cat({train_x, round_trips(train_raw)});
    train_y = torch::cat({train_y, train_y});
    held_trip = round_trips(held_raw);
  }

  const auto key = content_hash(manifest.str());
  auto judge = load_judge(path, key);
  report.reused = static_cast<bool>(judge.net);
  if (!report.reused) {
    const auto start = std::chrono::steady_clock::now();
    judge = train_judge(train_x, train_y, labels, j, on_step);
    report.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    save_judge(path, judge, key);
  }
  report.train_images = train_x.size(0);
  report.held_out_images = held_x.size(0);
  report.train_accuracy = accuracy(judge, train_x, train_y);
  report.held_out_accuracy = accuracy(judge, held_x, held_y);
  if (held_trip.defined()) report.held_out_round_trip_accuracy = accuracy(judge, held_trip, held_y);
  return judge;
}

int64_t style_label(const Judge& style_judge, const std::string& look) {
  const auto& l = style_judge.labels;
  const auto at = std::find(l.begin(), l.end(), look);
  if (at == l.end()) {
    std::string known;
    for (const auto& name : l) known += (known.empty() ? "" : ", ") + name;
    fail("style \"", look, "\" is not one the style judge knows (", known, ")");
  }
  return at - l.begin();
}

}  // namespace prtkl
