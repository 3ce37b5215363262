#include "eval/evaluate.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "adapters/adapter_setup.h"
#include "adapters/style.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/picture_sheet.h"
#include "core/strings.h"
#include "core/text_render.h"
#include "data/emoji_styles.h"
#include "diffusion/pipeline.h"
#include "eval/eval_report.h"
#include "eval/particle_fidelity.h"

namespace prtkl {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

// The ids of a file of one concept id a line (blank lines and # comments skipped), with their line numbers.
std::vector<std::pair<int, std::string>> read_id_list(const std::string& path) {
  std::vector<std::pair<int, std::string>> ids;
  std::istringstream in(read_file(path));
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const auto id = trim(line.substr(0, line.find('#')));
    if (!id.empty()) ids.emplace_back(line_no, id);
  }
  return ids;
}

// The ids of `path` (an id list), each one of the evaluated concepts.
std::set<std::string> held_out_ids(const std::string& path, const std::vector<EvalConcept>& concepts) {
  std::set<std::string> known, ids;
  for (const auto& c : concepts) known.insert(c.id);
  for (const auto& [line_no, id] : read_id_list(path)) {
    if (!known.count(id))
      fail(path, " line ", line_no, ": concept id '", id,
           "' is not in the eval set (held-out concepts are a part of it)");
    ids.insert(id);
  }
  return ids;
}

// "images/1f44b-1f3fd-google.png" -> "1f44b-1f3fd" (the npm file stem); "" for names of another shape.
std::string npm_stem(const std::string& dataset_image) {
  const auto file = fs::path(dataset_image).filename().string();
  for (const auto& style : kEmojiStyles) {
    const auto suffix = std::string("-") + style.name + ".png";
    if (file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0)
      return file.substr(0, file.size() - suffix.size());
  }
  return "";
}

// The picture of `stem` in every style that has it, and each one's look in `looks` when given.
std::vector<std::string> style_files(const fs::path& npm, const std::string& stem,
                                     std::vector<std::string>* looks = nullptr) {
  std::vector<std::string> out;
  for (const auto& style : kEmojiStyles) {
    const auto path = npm / style.package / "img" / style.name / "64" / (stem + ".png");
    if (!fs::exists(path)) continue;
    out.push_back(path.string());
    if (looks) looks->push_back(style.look);
  }
  return out;
}

// The pictures of `files` (npm's 64×64 PNGs) as [N,3,H,W] in [0,1]; [0,3,0,0] when there are none.
// Reads each file once: its picture and its content hash.
torch::Tensor read_pictures(const std::vector<std::string>& files, std::vector<std::string>& hashes) {
  std::vector<torch::Tensor> pictures;
  for (const auto& f : files) {
    const auto bytes = read_file(f);
    hashes.push_back(content_hash(bytes));
    pictures.push_back(image_tensor(decode_image(bytes, f)));
  }
  return pictures.empty() ? torch::empty({0, 3, 0, 0}) : torch::stack(pictures);
}

// [3,h,w] in [0,1] as an 8-bit picture.
Image picture(const torch::Tensor& image) { return to_images(image.permute({1, 2, 0}).unsqueeze(0))[0]; }

// A grid of cells: the concept's first image, a half-size real picture beside it, caption and score under it.
Image contact_sheet(const std::vector<EvalConcept>& concepts, const std::vector<ConceptScore>& scores,
                    const std::vector<torch::Tensor>& firsts) {
  constexpr int pad = 4, gap = 3, line = kGlyphHeight + 3, real = kJudgeSize / 2, cols = 8;
  const int cell_w = kJudgeSize + gap + real + 2 * pad, cell_h = kJudgeSize + 2 * line + 2 * pad;
  const int n = static_cast<int>(concepts.size());
  PictureSheet sheet(std::min(n, cols), (n + cols - 1) / cols, cell_w, cell_h, 255);
  auto& image = sheet.image();
  for (int i = 0; i < n; ++i) {
    const int x = sheet.cell_x(i % cols) + pad, y = sheet.cell_y(i / cols) + pad;
    sheet.paste(picture(firsts[i]), x, y);
    const auto photo = judge_input(concepts[i].train_pictures.slice(0, 0, 1));
    sheet.paste(picture(F::interpolate(
                    photo, F::InterpolateFuncOptions().size(std::vector<int64_t>{real, real}).mode(torch::kArea))[0]),
                x + kJudgeSize + gap, y);
    draw_text(image, x, y + kJudgeSize + gap, fit_text(concepts[i].caption, cell_w - 2 * pad), {20, 20, 20});
    const bool good = scores[i].accuracy() >= 0.5;
    const std::array<uint8_t, 3> color =
        good ? std::array<uint8_t, 3>{20, 130, 40} : std::array<uint8_t, 3>{190, 30, 30};
    draw_text(image, x, y + kJudgeSize + gap + line,
              std::to_string(scores[i].correct) + "/" + std::to_string(scores[i].total), color);
  }
  return image;
}

// A strip of images [B,3,h,w] in [0,1], side by side.
Image image_strip(const torch::Tensor& images) { return picture(torch::cat(images.unbind(0), 2)); }

// A content hash of a module's parameters (names and bytes): what a judge trained on its output depends on.
std::string parameters_hash(torch::nn::Module& module) {
  std::string all;
  for (const auto& p : module.named_parameters()) {
    const auto t = p.value().to(torch::kCPU).contiguous();
    all += p.key();
    all.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return content_hash(all);
}

// The pictures [B,3,H,W] in [0,1] through the model's autoencoder at `size` (the posterior mean, decoded), back
// in [0,1] at judge size.
torch::Tensor round_trip(StableDiffusionModel& model, const torch::Tensor& pictures, std::vector<int64_t> size) {
  torch::NoGradGuard no_grad;
  const auto p = model.vae->parameters().front();  // a copy: parameters() returns a temporary vector
  auto x = F::interpolate(pictures, F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false));
  x = (x * 2 - 1).to(p.device(), p.scalar_type());
  const auto y = model.vae->decode(model.vae->encode(x).mean).clamp(-1, 1);
  return judge_input(((y + 1) / 2).to(torch::kCPU, torch::kFloat32).contiguous());
}

}  // namespace

std::vector<EvalConcept> load_eval_concepts(const std::string& concepts_json, const std::string& eval_set,
                                            const std::string& npm_dir, uint64_t seed) {
  if (!fs::is_regular_file(eval_set)) fail(eval_set, ": no such eval-set file");
  const auto inventory = read_json_file(concepts_json);
  if (!inventory.contains("concepts") || !inventory.at("concepts").is_array())
    fail(concepts_json, ": field 'concepts' is missing or not a list");
  std::map<std::string, const Json*> by_id;
  for (const auto& c : inventory.at("concepts")) by_id[c.value("id", std::string())] = &c;

  const fs::path npm(npm_dir);
  const auto sheet_path = npm / kEmojiStyles[0].package / "emoji.json";
  if (!fs::exists(sheet_path))
    fail(sheet_path.string(), ": missing (install the npm package ", kEmojiStyles[0].package, ")");
  std::map<std::string, const Json*> by_stem;  // npm entry by the stem of its base picture
  const auto sheet = read_json_file(sheet_path.string());
  for (const auto& e : sheet)
    if (e.contains("image")) by_stem[fs::path(e.at("image").get<std::string>()).stem().string()] = &e;

  std::vector<EvalConcept> out;
  std::set<std::string> seen;
  for (const auto& [line_no, id] : read_id_list(eval_set)) {
    const auto where = eval_set + " line " + std::to_string(line_no);
    const auto it = by_id.find(id);
    if (it == by_id.end()) fail(where, ": unknown concept id '", id, "' (not in ", concepts_json, ")");
    if (!seen.insert(id).second) fail(where, ": concept id '", id, "' is listed twice");
    const Json& c = *it->second;

    std::set<std::string> used;  // npm stems of the dataset's pictures of this concept
    for (const auto& img : c.value("images", Json::array())) used.insert(npm_stem(img.get<std::string>()));
    const Json* entry = nullptr;
    for (const auto& stem : used)
      if (by_stem.count(stem)) entry = by_stem.at(stem);
    if (!entry)
      fail(concepts_json, ": concept '", id, "': none of its images matches a picture in ", sheet_path.string());

    EvalConcept ec{id, c.value("caption", id), {}, {}, {}, {}, {}, {}, {}};
    const auto base = fs::path(entry->at("image").get<std::string>()).stem().string();
    ec.train_images = style_files(npm, base, &ec.train_looks);
    if (ec.train_images.size() != std::size(kEmojiStyles))
      fail(concepts_json, ": concept '", id, "': picture ", base, ".png is missing from an npm style folder under ",
           npm_dir);
    // Skin tones: half (rounded up) of those the dataset did not use are held out, chosen per concept by the seed.
    std::vector<std::string> tones, unused;
    const auto variations = entry->value("skin_variations", Json::object());  // items() must not outlive it
    for (const auto& [tone, v] : variations.items())
      tones.push_back(fs::path(v.at("image").get<std::string>()).stem().string());
    std::sort(tones.begin(), tones.end());
    for (const auto& t : tones)
      if (!used.count(t)) unused.push_back(t);
    std::mt19937_64 rng(seed ^ std::stoull(content_hash(id), nullptr, 16));
    std::shuffle(unused.begin(), unused.end(), rng);
    const std::set<std::string> held(unused.begin(),
                                     unused.begin() + static_cast<std::ptrdiff_t>((unused.size() + 1) / 2));
    for (const auto& t : tones) {
      std::vector<std::string> looks;
      for (const auto& f : style_files(npm, t, &looks)) (held.count(t) ? ec.held_out_images : ec.train_images).push_back(f);
      if (!held.count(t)) ec.train_looks.insert(ec.train_looks.end(), looks.begin(), looks.end());
    }
    ec.train_pictures = read_pictures(ec.train_images, ec.train_hashes);
    ec.held_out_pictures = read_pictures(ec.held_out_images, ec.held_out_hashes);
    out.push_back(std::move(ec));
  }
  if (out.empty()) fail(eval_set, ": no concept ids (one a line; blank lines and # comments are skipped)");
  return out;
}

Judge prepare_judge(const std::vector<EvalConcept>& concepts, const JudgeOptions& options, const std::string& work,
                    JudgeReport& report, const std::function<void(const EvalEvent&)>& progress) {
  // The key names everything the judge depends on: its options, the classes and every picture's bytes.
  std::ostringstream manifest;
  manifest << "judge " << Json(options.widths).dump() << " " << options.steps << " " << options.batch_size << " "
           << options.lr << " " << options.weight_decay << " " << options.label_smoothing << " " << options.seed
           << "\n";
  std::vector<std::string> labels;
  std::vector<torch::Tensor> train, held;
  std::vector<int64_t> train_y, held_y;
  for (size_t i = 0; i < concepts.size(); ++i) {
    labels.push_back(concepts[i].id);
    const auto add = [&](const std::vector<std::string>& files, const std::vector<std::string>& hashes,
                         const torch::Tensor& pictures, const char* part, std::vector<torch::Tensor>& x,
                         std::vector<int64_t>& y) {
      for (size_t k = 0; k < files.size(); ++k)
        manifest << concepts[i].id << " " << part << " "
                 << fs::path(files[k]).parent_path().parent_path().filename().string() << "/"
                 << fs::path(files[k]).filename().string() << " " << hashes.at(k) << "\n";
      if (files.empty()) return;
      x.push_back(judge_input(pictures));
      y.insert(y.end(), files.size(), static_cast<int64_t>(i));
    };
    add(concepts[i].train_images, concepts[i].train_hashes, concepts[i].train_pictures, "train", train, train_y);
    add(concepts[i].held_out_images, concepts[i].held_out_hashes, concepts[i].held_out_pictures, "held-out", held,
        held_y);
  }
  const auto stack = [](const std::vector<torch::Tensor>& x) {
    return x.empty() ? torch::empty({0, 3, kJudgeSize, kJudgeSize}) : torch::cat(x);
  };
  const auto train_x = stack(train), held_x = stack(held);
  const auto train_labels = torch::tensor(train_y, torch::kLong), held_labels = torch::tensor(held_y, torch::kLong);

  fs::create_directories(work);
  const auto path = (fs::path(work) / "judge.safetensors").string();
  const auto key = content_hash(manifest.str());
  auto judge = load_judge(path, key);
  report.reused = static_cast<bool>(judge.net);
  if (!report.reused) {
    const auto start = std::chrono::steady_clock::now();
    judge = train_judge(train_x, train_labels, labels, options, [&](const JudgeTrainStep& s) {
      if (progress) progress({"judge", s.step, s.total, "loss " + std::to_string(s.loss).substr(0, 5)});
    });
    report.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    save_judge(path, judge, key);
  }
  report.train_images = train_x.size(0);
  report.held_out_images = held_x.size(0);
  report.train_accuracy = accuracy(judge, train_x, train_labels);
  report.blurred_train_accuracy =
      accuracy(judge, gaussian_blur(train_x, torch::full({train_x.size(0)}, kBlurSigma)), train_labels);
  report.held_out_accuracy = accuracy(judge, held_x, held_labels);
  return judge;
}

EvalResult run_eval(const EvalOptions& o, const std::function<void(const EvalEvent&)>& progress) {
  if (o.samples < 1 || o.steps < 1) fail("eval: --samples and --steps must be at least 1");
  fill_prompt_template(o.prompt_template, "");  // a template without {prompt} fails before anything is drawn
  const auto concepts = load_eval_concepts(o.concepts, o.eval_set, o.npm, o.judge.seed);
  const auto held_out = o.held_out_set.empty() ? std::set<std::string>{} : held_out_ids(o.held_out_set, concepts);
  EvalResult r;
  const auto judge = prepare_judge(concepts, o.judge, o.work, r.judge, progress);
  auto model = load_model(o.model);
  auto style_options = o.style_judge_options;
  if (o.style_judge_round_trip) {
    style_options.round_trip = [&](const torch::Tensor& pictures) {
      return round_trip(model, pictures, {pictures.size(2), pictures.size(3)});
    };
    style_options.round_trip_id = "vae " + parameters_hash(*model.vae);
  }
  const auto style_judge = prepare_style_judge(
      o.npm, o.style_judge.empty() ? (fs::path(o.work) / "style_judge.safetensors").string() : o.style_judge,
      style_options, r.style_judge, [&](const JudgeTrainStep& s) {
        if (progress) progress({"style judge", s.step, s.total, ""});
      });
  r.looks = style_judge.labels;
  if (!o.target_style.empty()) style_label(style_judge, o.target_style);  // a look it knows, before drawing

  if (!o.loras.empty() || !o.embeddings.empty()) r.adapters = apply_adapters(model, o.loras, o.embeddings).id;
  StableDiffusionPipeline pipe(model);
  const auto n = static_cast<int64_t>(concepts.size());
  std::vector<torch::Tensor> firsts;
  int64_t round_trip_correct = 0, round_trip_total = 0;
  std::vector<int64_t> trip_looks_right(r.looks.size()), trip_looks_total(r.looks.size());
  const auto start = std::chrono::steady_clock::now();
  fs::create_directories(fs::path(o.work) / "generations");
  fs::create_directories(fs::path(o.work) / "round_trip");
  fs::create_directories(fs::path(o.work) / "particle_renders");
  for (int64_t i = 0; i < n; ++i) {
    const auto& c = concepts[i];
    GenerateParams p;
    p.prompt = fill_prompt_template(o.prompt_template, c.caption);
    p.steps = o.steps;
    p.guidance_scale = o.cfg;
    p.sampler = o.sampler;
    p.seed = o.seed + static_cast<uint64_t>(i);
    p.num_images = o.samples;
    const auto g = pipe.generate(p, [&](const StepEvent& e) {
      if (progress) progress({"generate", i * o.steps + e.step, n * o.steps, c.id});
    });
    const auto images = judge_input(g.images.permute({0, 3, 1, 2}).to(torch::kCPU, torch::kFloat32).contiguous());
    const auto predicted = classify(judge, images);
    ConceptScore s;
    s.id = c.id;
    s.caption = c.caption;
    s.correct = predicted.eq(i).sum().item<int64_t>();
    s.total = o.samples;
    const auto looks = classify(style_judge, images);
    for (int64_t k = 0; k < static_cast<int64_t>(r.looks.size()); ++k)
      s.looks.push_back(looks.eq(k).sum().item<int64_t>());
    s.held_out = held_out.count(c.id) > 0;
    const auto particles_start = std::chrono::steady_clock::now();
    const auto sets = render_particle_sets(to_images(g.images), p.seed);  // the server seeds a set as its picture
    const auto renders = judge_input(sets.renders);
    const auto render_right = classify(judge, renders).eq(i);
    s.render_correct = render_right.sum().item<int64_t>();
    s.render_lost = (predicted.eq(i) & ~render_right).sum().item<int64_t>();
    s.set_ssims = sets.ssim;
    r.particle_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - particles_start).count();
    std::map<int64_t, int64_t> wrong;
    for (int64_t k = 0; k < predicted.size(0); ++k)
      if (predicted[k].item<int64_t>() != i) ++wrong[predicted[k].item<int64_t>()];
    for (const auto& [label, count] : wrong)
      if (count > s.top_wrong_count) s.top_wrong = judge.labels[label], s.top_wrong_count = count;
    const auto& real = c.train_pictures;
    const auto trip = round_trip(model, real, {g.images.size(1), g.images.size(2)});
    s.round_trip_correct = classify(judge, trip).eq(i).sum().item<int64_t>();
    s.round_trip_total = trip.size(0);
    const auto trip_looks = classify(style_judge, trip);
    for (int64_t k = 0; k < trip.size(0); ++k) {
      const auto look = style_label(style_judge, c.train_looks.at(static_cast<size_t>(k)));
      const bool right = trip_looks[k].item<int64_t>() == look;
      s.round_trip_looks_correct += right;
      trip_looks_right[look] += right;
      ++trip_looks_total[look];
    }
    round_trip_correct += s.round_trip_correct;
    round_trip_total += s.round_trip_total;
    r.concepts.push_back(s);
    firsts.push_back(images[0]);
    // Every image of the concept side by side, their particle sets, and its real pictures after the autoencoder, for
    // a closer look at a failing concept.
    write_png((fs::path(o.work) / "generations" / (c.id + ".png")).string(), image_strip(images));
    write_png((fs::path(o.work) / "particle_renders" / (c.id + ".png")).string(), image_strip(renders));
    write_png((fs::path(o.work) / "round_trip" / (c.id + ".png")).string(),
              image_strip(torch::cat({judge_input(real), trip}, 3)));
  }
  r.generate_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.round_trip_accuracy = static_cast<double>(round_trip_correct) / static_cast<double>(round_trip_total);
  for (size_t k = 0; k < r.looks.size(); ++k)
    r.round_trip_look_accuracy.push_back(
        trip_looks_total[k] ? static_cast<double>(trip_looks_right[k]) / static_cast<double>(trip_looks_total[k]) : 0.0);
  apply_gate(o, r);

  fs::create_directories(o.out);
  write_file_atomic((fs::path(o.out) / "README.md").string(), eval_readme(o, r));
  write_file_atomic((fs::path(o.out) / "eval.json").string(), eval_json(o, r).dump(1) + "\n");
  write_png((fs::path(o.out) / "samples.png").string(), contact_sheet(concepts, r.concepts, firsts));
  return r;
}

}  // namespace prtkl
