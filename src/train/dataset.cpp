#include "train/dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/strings.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

struct Entry {
  std::string file, caption;
};

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tga"};
  auto e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return exts.count(e) > 0;
}

std::vector<Entry> list_folder(const DatasetOptions& o) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(o.path))
    if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::vector<Entry> out;
  for (const auto& f : files) {
    auto caption_file = f;
    caption_file.replace_extension(o.caption_ext);
    std::string caption = o.default_caption;
    if (fs::exists(caption_file)) caption = trim(read_file(caption_file.string()));
    out.push_back({f.string(), caption});
  }
  return out;
}

std::vector<Entry> list_metadata(const DatasetOptions& o) {
  std::istringstream lines(read_file(o.path));
  const auto dir = fs::path(o.path).parent_path();
  std::vector<Entry> out;
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (trim(line).empty()) continue;
    Json j;
    try {
      j = Json::parse(line);
    } catch (const std::exception& e) {
      fail(o.path, ":", n, ": not JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("file_name") || !j["file_name"].is_string())
      fail(o.path, ":", n, ": needs a string field \"file_name\"");
    const auto text = j.contains("text") && j["text"].is_string() ? j["text"].get<std::string>() : o.default_caption;
    out.push_back({(dir / j["file_name"].get<std::string>()).string(), trim(text)});
  }
  return out;
}

std::string with_trigger(const std::string& caption, const std::string& trigger, std::string form) {
  if (trigger.empty() || caption.find(trigger) != std::string::npos) return caption;
  if (caption.empty()) return trigger;
  form.replace(form.find("{trigger}"), 9, trigger);
  form.replace(form.find("{caption}"), 9, caption);
  return form;
}

// Resize so the image covers h×w, then crop (center or random) and maybe flip.
Sample make_sample(const Image& img, const Entry& entry, int64_t h, int64_t w, const DatasetOptions& o,
                   std::mt19937_64& rng) {
  auto t = torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels},
                            torch::kUInt8)
               .to(torch::kFloat32)
               .permute({2, 0, 1});
  if (img.channels == 1) t = t.expand({3, img.height, img.width});
  if (img.channels == 4) {  // composite onto white: transparent particle art has a white background
    const auto alpha = t.slice(0, 3, 4) / 255.0;
    t = t.slice(0, 0, 3) * alpha + 255.0 * (1 - alpha);
  }
  const double scale = std::max(double(h) / img.height, double(w) / img.width);
  const int64_t rh = std::max<int64_t>(h, std::llround(img.height * scale));
  const int64_t rw = std::max<int64_t>(w, std::llround(img.width * scale));
  namespace F = torch::nn::functional;
  t = F::interpolate(t.unsqueeze(0), F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{rh, rw})
                                         .mode(torch::kBicubic)
                                         .align_corners(false)
                                         .antialias(true))
          .squeeze(0);
  Sample s;
  s.file = entry.file;
  s.caption = with_trigger(entry.caption, o.trigger, o.trigger_template);
  s.original_h = img.height;
  s.original_w = img.width;
  if (o.center_crop) {
    s.crop_top = (rh - h) / 2;
    s.crop_left = (rw - w) / 2;
  } else {
    s.crop_top = rh > h ? static_cast<int64_t>(rng() % uint64_t(rh - h + 1)) : 0;
    s.crop_left = rw > w ? static_cast<int64_t>(rng() % uint64_t(rw - w + 1)) : 0;
  }
  t = t.slice(1, s.crop_top, s.crop_top + h).slice(2, s.crop_left, s.crop_left + w);
  s.flipped = o.random_flip && (rng() & 1);
  if (s.flipped) t = t.flip({2});
  s.pixels = (t / 127.5 - 1.0).clamp(-1, 1).contiguous();
  return s;
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> bucket_resolutions(int64_t resolution, int64_t step, int64_t min_side,
                                                            int64_t max_side) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t area = resolution * resolution;
  for (int64_t w = min_side; w <= max_side; w += step) {
    const int64_t h = std::min(max_side, area / w / step * step);
    if (h >= min_side) out.emplace_back(h, w);
  }
  return out;
}

BucketSides bucket_sides(const DatasetOptions& o) {
  const int64_t step = std::clamp<int64_t>(o.resolution / 8 / 8 * 8, 8, 64);
  return {o.bucket_step > 0 ? o.bucket_step : step, o.min_bucket > 0 ? o.min_bucket : o.resolution / 2,
          o.max_bucket > 0 ? o.max_bucket : o.resolution * 2};
}

Dataset load_dataset(const DatasetOptions& o) {
  if (o.trigger_template.find("{trigger}") == std::string::npos || o.trigger_template.find("{caption}") == std::string::npos)
    fail("dataset: trigger_template \"", o.trigger_template, "\" needs {trigger} and {caption}");
  if (o.path.empty()) fail("dataset: no data path given");
  if (!fs::exists(o.path)) fail(o.path, ": the dataset does not exist");
  if (o.repeats < 1) fail("dataset: repeats must be at least 1");
  if (o.resolution < 8 || o.resolution % 8 != 0) fail("dataset: resolution must be a positive multiple of 8");
  const auto entries = fs::is_directory(o.path) ? list_folder(o) : list_metadata(o);
  std::vector<std::pair<Entry, Image>> images;
  Dataset d;
  std::string fingerprint;
  for (const auto& e : entries) {
    try {
      const auto bytes = read_file(e.file);  // read once: decoded here and hashed into the fingerprint
      images.emplace_back(e, decode_image(bytes, e.file));
      fingerprint += fs::path(e.file).filename().string() + "\n" + content_hash(bytes) + "\n" + e.caption;
    } catch (const std::exception& ex) {
      d.skipped.push_back(e.file + ": " + ex.what());
    }
  }
  if (images.empty()) fail(o.path, ": no readable images (", d.skipped.size(), " skipped)");
  if (o.held_out < 0 || o.held_out >= static_cast<int64_t>(images.size()))
    fail("dataset: held_out must leave at least one training image (", images.size(), " readable)");
  d.hash = content_hash(fingerprint);

  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ull);
  // Held-out images: a seeded choice, so the same data and seed hold out the same images.
  std::vector<size_t> order(images.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::set<size_t> held(order.begin(), order.begin() + o.held_out);

  const auto sides = bucket_sides(o);
  const auto buckets = o.buckets ? bucket_resolutions(o.resolution, sides.step, sides.min, sides.max)
                                 : std::vector<std::pair<int64_t, int64_t>>{{o.resolution, o.resolution}};
  if (buckets.empty())
    fail("dataset: no bucket fits resolution ", o.resolution, " within [", sides.min, ", ", sides.max, "]");
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& [entry, img] = images[i];
    const double aspect = double(img.width) / img.height;
    auto best = buckets.front();
    for (const auto& b : buckets)
      if (std::abs(std::log(double(b.second) / b.first / aspect)) <
          std::abs(std::log(double(best.second) / best.first / aspect)))
        best = b;
    if (held.count(i)) {
      DatasetOptions center = o;
      center.center_crop = true;
      center.random_flip = false;
      d.held_out.push_back(make_sample(img, entry, best.first, best.second, center, rng));
      continue;
    }
    for (int r = 0; r < o.repeats; ++r) d.train.push_back(make_sample(img, entry, best.first, best.second, o, rng));
  }
  return d;
}

}  // namespace prtkl
