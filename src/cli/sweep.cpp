// `prtkl sweep`: renders every checkpoint of a training run × prompt × seed on one loaded base model (switching
// LoRAs and embeddings per checkpoint), reusing matching validation images, and writes the cells, sweep.json (the
// web sweep page's format), a labelled contact sheet and a static index.html.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "adapters/embeddings.h"
#include "adapters/lora_apply.h"
#include "cli/cli_util.h"
#include "cli/progress_bar.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "diffusion/scheduler.h"
#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "core/runtime.h"
#include "core/text_render.h"
#include "diffusion/pipeline.h"
#include "train/train_config.h"

namespace prtkl::cli {

namespace {

namespace fs = std::filesystem;

const char* const kLoraFile = "pytorch_lora_weights.safetensors";

struct SweepArgs {
  std::string run, prompts, seeds, model, sampler = "euler", out, checkpoints, device = "cpu", dtype = "fp32";
  int64_t steps = 20, width = 0, height = 0;
  double cfg = 7.0, lora_scale = 1.0;
  int threads = kAutoThreads;
};

struct Checkpoint {
  std::string name;  // "checkpoint-100" or "final"
  int64_t step = 0;
  fs::path dir;
  std::optional<fs::path> lora, embeddings;
};

std::vector<uint64_t> parse_seeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const auto& s : split_commas(text)) {
    if (s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
      fail("--seeds: '", s, "' is not a seed (non-negative integers, comma-separated)");
    const auto seed = std::stoull(s);
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) fail("--seeds: seed ", seed, " is given twice");
    seeds.push_back(seed);
  }
  if (seeds.empty()) fail("--seeds: no seeds given (e.g. --seeds 1,2)");
  return seeds;
}

// The embeddings file of a checkpoint folder: <name>_emb.safetensors, else the only *_emb.safetensors there.
std::optional<fs::path> find_embeddings(const fs::path& dir, const std::string& name) {
  if (!name.empty() && fs::is_regular_file(dir / (name + "_emb.safetensors"))) return dir / (name + "_emb.safetensors");
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto f = e.path().filename().string();
    if (e.is_regular_file() && f.size() > 16 && f.compare(f.size() - 16, 16, "_emb.safetensors") == 0)
      found.push_back(e.path());
  }
  if (found.size() == 1) return found.front();
  return std::nullopt;
}

// checkpoint-<step>/ folders sorted by step, then the run folder itself as "final" when it holds a LoRA.
std::vector<Checkpoint> find_checkpoints(const fs::path& run, const std::string& name) {
  std::vector<Checkpoint> out;
  const std::regex pattern("checkpoint-([0-9]{1,18})");
  for (const auto& e : fs::directory_iterator(run)) {
    std::smatch m;
    const auto f = e.path().filename().string();
    if (!e.is_directory() || !std::regex_match(f, m, pattern)) continue;
    Checkpoint c{f, std::stoll(m[1].str()), e.path(), std::nullopt, std::nullopt};
    if (fs::is_regular_file(c.dir / kLoraFile)) c.lora = c.dir / kLoraFile;
    c.embeddings = find_embeddings(c.dir, name);
    if (!c.lora && !c.embeddings) {
      std::cerr << "warning: " << c.dir.string() << ": no LoRA or embeddings, skipped\n";
      continue;
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  if (fs::is_regular_file(run / kLoraFile))
    out.push_back({"final", -1, run, run / kLoraFile, find_embeddings(run, name)});
  if (out.empty())
    fail(run.string(), ": no checkpoints (expected checkpoint-<step>/ folders or a final ", kLoraFile, ")");
  return out;
}

std::vector<Checkpoint> select_checkpoints(std::vector<Checkpoint> all, const std::string& wanted,
                                           const fs::path& run) {
  if (wanted.empty()) return all;
  std::set<std::string> names;
  for (const auto& n : split_commas(wanted)) {
    if (std::none_of(all.begin(), all.end(), [&](const auto& c) { return c.name == n; })) {
      std::string have;
      for (const auto& c : all) have += (have.empty() ? "" : ", ") + c.name;
      fail("--checkpoints: no checkpoint '", n, "' in ", run.string(), " (have: ", have, ")");
    }
    names.insert(n);
  }
  if (names.empty()) fail("--checkpoints: no checkpoint names given");
  all.erase(std::remove_if(all.begin(), all.end(), [&](const auto& c) { return !names.count(c.name); }), all.end());
  return all;
}

// The cached validation images of a checkpoint rendered with exactly these settings: (prompt, seed) -> file.
std::map<std::pair<std::string, uint64_t>, fs::path> validation_cache(const Checkpoint& c, const GenerateParams& p) {
  std::map<std::pair<std::string, uint64_t>, fs::path> cache;
  const auto index = c.dir / "validation" / "index.json";
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
      const auto file = c.dir / "validation" / e.at("file").get<std::string>();
      if (fs::is_regular_file(file)) cache[{e.at("prompt").get<std::string>(), e.at("seed").get<uint64_t>()}] = file;
    }
  } catch (const std::exception& ex) {
    std::cerr << "warning: " << index.string() << ": unreadable, not reused (" << ex.what() << ")\n";
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
  Image sheet;
  sheet.width = left + cols * cell_w;
  sheet.height = top + rows * cell_h;
  sheet.channels = 3;
  sheet.pixels.assign(static_cast<size_t>(sheet.width) * sheet.height * 3, 24);
  for (size_t pi = 0; pi < prompts.size(); ++pi) {
    for (size_t si = 0; si < seeds.size(); ++si) {
      const int x = left + static_cast<int>(pi * seeds.size() + si) * cell_w;
      draw_text(sheet, x + 1, pad, fit_text("p" + std::to_string(pi) + " " + prompts[pi], cell_w - 2), fg);
      draw_text(sheet, x + 1, pad + line, fit_text("seed " + std::to_string(seeds[si]), cell_w - 2), fg);
    }
  }
  for (int r = 0; r < rows; ++r) {
    const int y = top + r * cell_h;
    draw_text(sheet, pad, y + (cell_h - kGlyphHeight) / 2, cps[r].name, fg);
    for (size_t pi = 0; pi < prompts.size(); ++pi) {
      for (size_t si = 0; si < seeds.size(); ++si) {
        const int x = left + static_cast<int>(pi * seeds.size() + si) * cell_w;
        const auto file = cps[r].name + "-p" + std::to_string(pi) + "-s" + std::to_string(seeds[si]) + ".png";
        const auto img = read_image((out / file).string());
        for (int iy = 0; iy < std::min(img.height, cell_h); ++iy) {
          for (int ix = 0; ix < std::min(img.width, cell_w); ++ix) {
            const uint8_t* s = &img.pixels[(static_cast<size_t>(iy) * img.width + ix) * img.channels];
            uint8_t* d = &sheet.pixels[(static_cast<size_t>(y + iy) * sheet.width + x + ix) * 3];
            for (int k = 0; k < 3; ++k) d[k] = s[img.channels >= 3 ? k : 0];
          }
        }
      }
    }
  }
  return sheet;
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

void run(const SweepArgs& a, const std::set<std::string>& given) {
  set_threads(a.threads);
  const fs::path run_dir(a.run);
  if (!fs::is_directory(run_dir)) fail("--run ", a.run, ": not a folder");
  const auto seeds = parse_seeds(a.seeds);
  const auto prompts = read_prompts(a.prompts);

  Config config;
  if (fs::is_regular_file(run_dir / "config.json")) config = Config::load((run_dir / "config.json").string());
  const auto name = config.get_or<std::string>("name", "");
  const auto checkpoints = select_checkpoints(find_checkpoints(run_dir, name), a.checkpoints, run_dir);
  std::string model_path = a.model;
  if (model_path.empty()) {
    if (!config.has("model")) fail(a.run, ": no config.json with a \"model\" field; pass --model");
    model_path = config.get<std::string>("model");
  }

  // Settings: flags, else the run's validation settings (config.json of `prtkl train`), else generate's defaults.
  GenerateParams base;
  base.steps = given.count("steps") ? a.steps : config.get_or<int64_t>("validation_steps", a.steps);
  base.guidance_scale = given.count("cfg") ? a.cfg : config.get_or<double>("validation_cfg", a.cfg);
  base.sampler = given.count("sampler") ? a.sampler : config.get_or<std::string>("validation_sampler", a.sampler);
  // Pivotal runs: prompts may say the token abstraction (TOK), as the trainer's validation prompts do.
  TrainConfig training;
  training.apply_json(config.json().is_object() ? config.json() : Json::object(), config.source());
  base.width = a.width;
  base.height = a.height;
  const auto samplers = scheduler_names();
  if (std::find(samplers.begin(), samplers.end(), base.sampler) == samplers.end())
    fail("--sampler ", base.sampler, ": unknown sampler (known: ", scheduler_list(", "), ")");

  const fs::path out = a.out.empty() ? run_dir / "sweep" : fs::path(a.out);
  fs::create_directories(out);

  LoadOptions lo;
  lo.device = parse_device(a.device);
  lo.dtype = parse_dtype(a.dtype, lo.device);
  std::cerr << "loading " << model_path << "\n";
  auto model = load_model(model_path, lo);
  if (a.threads == kAutoThreads) set_threads(threads_for_unet(model.unet_config));
  for (const auto& w : model.warnings) std::cerr << "warning: " << w << "\n";
  StableDiffusionPipeline pipe(model);
  base = pipe.resolve(base);
  LoraApplier applier(model);

  const int64_t total = static_cast<int64_t>(checkpoints.size() * prompts.size() * seeds.size());
  std::cerr << checkpoints.size() << " checkpoint(s) × " << prompts.size() << " prompt(s) × " << seeds.size()
            << " seed(s), " << base.width << "x" << base.height << ", " << base.steps << " steps, " << base.sampler
            << ", cfg " << base.guidance_scale << "\n";
  std::vector<Cell> cells;
  int64_t done = 0, reused = 0, rendered = 0;
  bool had_embeddings = false;
  ProgressBar bar("sweep");
  for (const auto& c : checkpoints) {
    const auto cache = validation_cache(c, base);
    bool loaded = false;
    for (size_t pi = 0; pi < prompts.size(); ++pi) {
      for (auto seed : seeds) {
        const auto file = c.name + "-p" + std::to_string(pi) + "-s" + std::to_string(seed) + ".png";
        const auto dest = (out / file).string();
        if (auto it = cache.find({prompts[pi], seed}); it != cache.end()) {
          write_file_atomic(dest, read_file(it->second.string()));
          ++reused;
        } else {
          if (!loaded) {  // switch adapters only when this checkpoint renders anything
            if (c.lora) {
              auto lora = applier.read(c.lora->string());
              if (!lora.unmatched.empty())
                std::cerr << "warning: " << c.lora->string() << ": " << lora.unmatched.size()
                          << " LoRA key(s) match no module, e.g. '" << lora.unmatched.front() << "'\n";
              applier.apply({{std::move(lora), a.lora_scale}});
            } else {
              applier.clear();
            }
            // Loading the same tokens again replaces their rows (tokens keep their ids).
            if (c.embeddings) {
              load_embeddings(model, c.embeddings->string());
              had_embeddings = true;
            } else if (had_embeddings) {
              std::cerr << "warning: " << c.name << " has no embeddings; the previous checkpoint's stay loaded\n";
            }
            loaded = true;
          }
          GenerateParams p = base;
          p.prompt = training.expand_abstraction(prompts[pi]);
          p.seed = seed;
          auto result = pipe.generate(p);
          const auto parameters =
              a1111_parameters(p, result.sampler_display_name, model.name) + ", Checkpoint: " + c.name;
          write_png(dest, to_images(result.images).at(0), {{"parameters", parameters}});
          ++rendered;
        }
        cells.push_back({c.name, file, pi, seed});
        bar.update(++done, total, c.name);
      }
    }
  }
  bar.finish();

  Json sweep = Json::object();
  sweep["checkpoints"] = Json::array();
  for (const auto& c : checkpoints) sweep["checkpoints"].push_back(c.name);
  sweep["prompts"] = prompts;
  sweep["seeds"] = seeds;
  sweep["cells"] = Json::array();
  for (const auto& c : cells)
    sweep["cells"].push_back({{"checkpoint", c.checkpoint}, {"prompt", c.prompt}, {"seed", c.seed}, {"file", c.file}});
  write_file_atomic((out / "sweep.json").string(), sweep.dump(2) + "\n");
  write_png((out / "contact.png").string(), contact_sheet(out, checkpoints, prompts, seeds,
                                                          static_cast<int>(base.width), static_cast<int>(base.height)));
  write_file_atomic((out / "index.html").string(), index_html(a.run, checkpoints, prompts, seeds));
  std::cerr << rendered << " rendered, " << reused << " reused from validation images\n";
  std::cout << out.string() << "\n";
}

RegisterSubcommand reg("sweep", [](CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand("sweep", "Render every checkpoint of a training run × prompts × seeds");
  sub->add_option("--run", a->run, "training run folder (config.json, checkpoint-<step>/)")->required();
  sub->add_option("--prompts", a->prompts, "text file, one prompt a line (# comments, blank lines skipped)")
      ->required();
  sub->add_option("--seeds", a->seeds, "comma-separated seeds, e.g. 1,2")->required();
  sub->add_option("--model,-m", a->model, "base model (default: config.json \"model\")");
  auto* steps = sub->add_option("--steps", a->steps, "denoising steps (default: the run's validation steps, else 20)");
  auto* cfg = sub->add_option("--cfg", a->cfg, "guidance scale (default: the run's validation cfg, else 7)");
  auto* sampler =
      sub->add_option("--sampler", a->sampler, "sampler (default: the run's validation sampler, else euler)");
  sub->add_option("--width,-W", a->width, "multiple of 8 (default: the model's native size)");
  sub->add_option("--height,-H", a->height, "multiple of 8 (default: the model's native size)");
  sub->add_option("--checkpoints", a->checkpoints, "comma-separated subset, e.g. checkpoint-100,final");
  sub->add_option("--lora-scale", a->lora_scale, "LoRA scale")->capture_default_str();
  sub->add_option("--out,-o", a->out, "output folder (default: RUN/sweep)");
  sub->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "fp32 | bf16 | fp16")->capture_default_str();
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores; default: 1 for a small model such as the bundled one, else all)")->capture_default_str();
  sub->callback([a, steps, cfg, sampler] {
    std::set<std::string> given;
    if (steps->count()) given.insert("steps");
    if (cfg->count()) given.insert("cfg");
    if (sampler->count()) given.insert("sampler");
    run(*a, given);
  });
});

}  // namespace

}  // namespace prtkl::cli
