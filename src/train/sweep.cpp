#include "train/sweep.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "adapters/embeddings.h"
#include "adapters/lora_apply.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/picture_sheet.h"
#include "core/runtime.h"
#include "core/text_render.h"
#include "diffusion/pipeline.h"
#include "diffusion/scheduler.h"
#include "train/run_folder.h"
#include "train/train_config.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

struct Checkpoint {
  std::string name;  // "checkpoint-100" or "final"
  int64_t step = 0;
  fs::path dir;
  std::optional<fs::path> lora, embeddings;
};

// The run's checkpoints that hold adapters, by step, then the run folder itself as "final" when it holds a LoRA.
std::vector<Checkpoint> find_checkpoints(const RunFolder& run, const std::function<void(const std::string&)>& log) {
  std::vector<Checkpoint> out;
  for (const auto& [step, dir] : run.checkpoints()) {
    Checkpoint c{dir.filename().string(), step, dir, std::nullopt, run.embeddings_in(dir)};
    if (fs::is_regular_file(dir / RunFolder::kLoraFile)) c.lora = dir / RunFolder::kLoraFile;
    if (!c.lora && !c.embeddings) {
      log("warning: " + dir.string() + ": no LoRA or embeddings, skipped");
      continue;
    }
    out.push_back(std::move(c));
  }
  if (fs::is_regular_file(run.dir() / RunFolder::kLoraFile))
    out.push_back({"final", -1, run.dir(), run.dir() / RunFolder::kLoraFile, run.embeddings_in(run.dir())});
  if (out.empty())
    fail(run.dir().string(), ": no checkpoints (expected checkpoint-<step>/ folders or a final ", RunFolder::kLoraFile, ")");
  return out;
}

std::vector<Checkpoint> select_checkpoints(std::vector<Checkpoint> all, const std::vector<std::string>& wanted,
                                           const fs::path& run) {
  if (wanted.empty()) return all;
  std::set<std::string> names;
  for (const auto& n : wanted) {
    if (std::none_of(all.begin(), all.end(), [&](const auto& c) { return c.name == n; })) {
      std::string have;
      for (const auto& c : all) have += (have.empty() ? "" : ", ") + c.name;
      fail("--checkpoints: no checkpoint '", n, "' in ", run.string(), " (have: ", have, ")");
    }
    names.insert(n);
  }
  all.erase(std::remove_if(all.begin(), all.end(), [&](const auto& c) { return !names.count(c.name); }), all.end());
  return all;
}

// The cached validation images of a checkpoint rendered with exactly these settings: (prompt, seed) -> file.
std::map<std::pair<std::string, uint64_t>, fs::path> validation_cache(const Checkpoint& c, const GenerateParams& p,
                                                                      const std::function<void(const std::string&)>& log) {
  std::map<std::pair<std::string, uint64_t>, fs::path> cache;
  const auto index = c.dir / RunFolder::kValidationDir / RunFolder::kValidationIndex;
  if (!fs::is_regular_file(index)) return cache;
  try {
    const auto entries = read_json_file(index.string());
    if (!entries.is_array()) return cache;
    for (const auto& e : entries) {
      if (!e.is_object() || !e.contains("prompt") || !e.contains("seed") || !e.contains("file")) continue;
      if (e.value("steps", int64_t(-1)) != p.steps || e.value("sampler", std::string()) != p.sampler ||
          std::abs(e.value("cfg", -1e9) - p.guidance_scale) > 1e-6 || e.value("width", int64_t(-1)) != p.width ||
          e.value("height", int64_t(-1)) != p.height)
        continue;
      const auto file = c.dir / RunFolder::kValidationDir / e.at("file").get<std::string>();
      if (fs::is_regular_file(file)) cache[{e.at("prompt").get<std::string>(), e.at("seed").get<uint64_t>()}] = file;
    }
  } catch (const std::exception& ex) {
    log("warning: " + index.string() + ": unreadable, not reused (" + ex.what() + ")");
  }
  return cache;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Cell {
  std::string checkpoint, file;
  size_t prompt;
  uint64_t seed;
};

// Rows = checkpoints, columns = prompt × seed; a left margin for checkpoint names, a top margin of two lines
// (prompt, seed) above each column.
Image contact_sheet(const fs::path& out, const std::vector<Checkpoint>& cps, const std::vector<std::string>& prompts,
                    const std::vector<uint64_t>& seeds, int cell_w, int cell_h) {
  constexpr int pad = 4, line = kGlyphHeight + 3;
  const std::array<uint8_t, 3> fg{230, 230, 230};
  int label_w = 0;
  for (const auto& c : cps) label_w = std::max(label_w, text_width(c.name));
  const int left = label_w + 2 * pad, top = 2 * line + 2 * pad;
  const int cols = static_cast<int>(prompts.size() * seeds.size()), rows = static_cast<int>(cps.size());
  PictureSheet sheet(cols, rows, cell_w, cell_h, 24, left, top);
  auto& image = sheet.image();
  const auto col = [&](size_t pi, size_t si) { return sheet.cell_x(static_cast<int>(pi * seeds.size() + si)); };
  for (size_t pi = 0; pi < prompts.size(); ++pi) {
    for (size_t si = 0; si < seeds.size(); ++si) {
      draw_text(image, col(pi, si) + 1, pad, fit_text("p" + std::to_string(pi) + " " + prompts[pi], cell_w - 2), fg);
      draw_text(image, col(pi, si) + 1, pad + line, fit_text("seed " + std::to_string(seeds[si]), cell_w - 2), fg);
    }
  }
  for (int r = 0; r < rows; ++r) {
    const int y = sheet.cell_y(r);
    draw_text(image, pad, y + (cell_h - kGlyphHeight) / 2, cps[r].name, fg);
    for (size_t pi = 0; pi < prompts.size(); ++pi)
      for (size_t si = 0; si < seeds.size(); ++si) {
        const auto file = cps[r].name + "-p" + std::to_string(pi) + "-s" + std::to_string(seeds[si]) + ".png";
        sheet.paste(read_image((out / file).string()), col(pi, si), y, cell_w, cell_h);
      }
  }
  return image;
}

std::string index_html(const std::string& run, const std::vector<Checkpoint>& cps,
                       const std::vector<std::string>& prompts, const std::vector<uint64_t>& seeds) {
  std::ostringstream h;
  h << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sweep: " << html_escape(run) << "</title>\n"
    << "<style>body{font-family:sans-serif;background:#111;color:#ddd}table{border-collapse:collapse}"
       "th{font-weight:500;font-size:12px;padding:6px;max-width:180px;overflow-wrap:anywhere;vertical-align:bottom}"
       "th.row{text-align:right;white-space:nowrap;vertical-align:middle}td{padding:4px}"
       "td img{width:160px;height:160px;object-fit:cover;display:block}</style></head>\n<body>\n<h1>sweep: "
    << html_escape(run) << "</h1>\n<table class=\"sweep\">\n<tr><th></th>";
  for (size_t pi = 0; pi < prompts.size(); ++pi)
    for (auto seed : seeds) h << "<th>" << html_escape(prompts[pi]) << "<br>seed " << seed << "</th>";
  h << "</tr>\n";
  for (const auto& c : cps) {
    h << "<tr><th class=\"row\">" << html_escape(c.name) << "</th>";
    for (size_t pi = 0; pi < prompts.size(); ++pi) {
      for (auto seed : seeds) {
        const auto file = html_escape(c.name + "-p" + std::to_string(pi) + "-s" + std::to_string(seed) + ".png");
        h << "<td><a href=\"" << file << "\"><img src=\"" << file << "\" alt=\"" << html_escape(prompts[pi])
          << ", seed " << seed << "\"></a></td>";
      }
    }
    h << "</tr>\n";
  }
  h << "</table>\n<p><a href=\"contact.png\">contact sheet</a> · <a href=\"sweep.json\">sweep.json</a></p>\n"
       "</body></html>\n";
  return h.str();
}

}  // namespace

SweepResult run_sweep(const SweepRequest& r) {
  const auto log = [&](const std::string& line) {
    if (r.log) r.log(line);
  };
  set_threads(r.threads);
  if (!fs::is_directory(r.run)) fail("--run ", r.run.string(), ": not a folder");
  if (r.seeds.empty()) fail("no seeds given");
  if (r.prompts.empty()) fail("no prompts given");

  Config config;
  if (fs::is_regular_file(r.run / "config.json")) config = Config::load((r.run / "config.json").string());
  const RunFolder run(r.run, config.get_or<std::string>("name", ""));
  const auto checkpoints = select_checkpoints(find_checkpoints(run, log), r.checkpoints, r.run);
  std::string model_path = r.model;
  if (model_path.empty()) {
    if (!config.has("model")) fail(r.run.string(), ": no config.json with a \"model\" field; pass --model");
    model_path = config.get<std::string>("model");
  }

  // Settings: given, else the run's validation settings (config.json of `prtkl train`), else generate's defaults.
  const GenerateParams defaults;
  GenerateParams base;
  base.steps = r.steps ? *r.steps : config.get_or<int64_t>("validation_steps", defaults.steps);
  base.guidance_scale = r.cfg ? *r.cfg : config.get_or<double>("validation_cfg", defaults.guidance_scale);
  base.sampler = r.sampler ? *r.sampler : config.get_or<std::string>("validation_sampler", defaults.sampler);
  // Pivotal runs: prompts may say the token abstraction (TOK), as the trainer's validation prompts do.
  TrainConfig training;
  training.apply_json(config.json().is_object() ? config.json() : Json::object(), config.source());
  base.width = r.width;
  base.height = r.height;
  const auto samplers = scheduler_names();
  if (std::find(samplers.begin(), samplers.end(), base.sampler) == samplers.end())
    fail("--sampler ", base.sampler, ": unknown sampler (known: ", scheduler_list(", "), ")");

  const fs::path out = r.out.empty() ? r.run / "sweep" : r.out;
  fs::create_directories(out);

  log("loading " + model_path);
  auto model = load_model(model_path, r.load);
  if (r.threads == kAutoThreads) set_threads(threads_for_unet(model.unet_config, model.dtype));
  for (const auto& w : model.warnings) log("warning: " + w);
  StableDiffusionPipeline pipe(model);
  base = pipe.resolve(base);
  LoraApplier applier(model);

  const int64_t total = static_cast<int64_t>(checkpoints.size() * r.prompts.size() * r.seeds.size());
  std::ostringstream plan;
  plan << checkpoints.size() << " checkpoint(s) × " << r.prompts.size() << " prompt(s) × " << r.seeds.size()
       << " seed(s), " << base.width << "x" << base.height << ", " << base.steps << " steps, " << base.sampler
       << ", cfg " << base.guidance_scale;
  log(plan.str());
  std::vector<Cell> cells;
  SweepResult result;
  result.out = out;
  int64_t done = 0;
  bool had_embeddings = false;
  for (const auto& c : checkpoints) {
    const auto cache = validation_cache(c, base, log);
    bool loaded = false;
    for (size_t pi = 0; pi < r.prompts.size(); ++pi) {
      for (auto seed : r.seeds) {
        const auto file = c.name + "-p" + std::to_string(pi) + "-s" + std::to_string(seed) + ".png";
        const auto dest = (out / file).string();
        if (auto it = cache.find({r.prompts[pi], seed}); it != cache.end()) {
          write_file_atomic(dest, read_file(it->second.string()));
          ++result.reused;
        } else {
          if (!loaded) {  // switch adapters only when this checkpoint renders anything
            if (c.lora) {
              auto lora = applier.read(c.lora->string());
              if (!lora.unmatched.empty())
                log("warning: " + c.lora->string() + ": " + std::to_string(lora.unmatched.size()) +
                    " LoRA key(s) match no module, e.g. '" + lora.unmatched.front() + "'");
              applier.apply({{std::move(lora), r.lora_scale}});
            } else {
              applier.clear();
            }
            // Loading the same tokens again replaces their rows (tokens keep their ids).
            if (c.embeddings) {
              load_embeddings(model, c.embeddings->string());
              had_embeddings = true;
            } else if (had_embeddings) {
              log("warning: " + c.name + " has no embeddings; the previous checkpoint's stay loaded");
            }
            loaded = true;
          }
          GenerateParams p = base;
          p.prompt = training.expand_abstraction(r.prompts[pi]);
          p.seed = seed;
          auto generated = pipe.generate(p);
          const auto parameters =
              a1111_parameters(p, generated.sampler_display_name, model.name) + ", Checkpoint: " + c.name;
          write_png(dest, to_images(generated.images).at(0), {{"parameters", parameters}});
          ++result.rendered;
        }
        cells.push_back({c.name, file, pi, seed});
        if (r.progress) r.progress(++done, total, c.name);
      }
    }
  }

  Json sweep = Json::object();
  sweep["checkpoints"] = Json::array();
  for (const auto& c : checkpoints) sweep["checkpoints"].push_back(c.name);
  sweep["prompts"] = r.prompts;
  sweep["seeds"] = r.seeds;
  sweep["cells"] = Json::array();
  for (const auto& c : cells)
    sweep["cells"].push_back({{"checkpoint", c.checkpoint}, {"prompt", c.prompt}, {"seed", c.seed}, {"file", c.file}});
  write_file_atomic((out / "sweep.json").string(), sweep.dump(2) + "\n");
  write_png((out / "contact.png").string(), contact_sheet(out, checkpoints, r.prompts, r.seeds,
                                                          static_cast<int>(base.width), static_cast<int>(base.height)));
  write_file_atomic((out / "index.html").string(), index_html(r.run.string(), checkpoints, r.prompts, r.seeds));
  return result;
}

}  // namespace prtkl
