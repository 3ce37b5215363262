// `prtkl contact-sheet --words FILE --out PNG`: every word of FILE as a person would type it, through the
// interpreter and the model, on one sheet (src/eval/word_sheet.h).
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli_util.h"
#include "cli/progress_bar.h"
#include "cli/sampling_flags.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/runtime.h"
#include "eval/word_sheet.h"
#include "interpret/model_prompt.h"

namespace prtkl::cli {

namespace {

struct SheetArgs {
  std::string model, words, out;
  WordSheetOptions options;
  SamplingFlags sampling;  // unset: WordSheetOptions' defaults
  int threads = kAutoThreads;
};

void run(SheetArgs a) {
  const auto s = a.sampling.filled({a.options.sampler, a.options.steps, a.options.guidance_scale, ""});
  a.options.steps = s.steps, a.options.guidance_scale = s.cfg, a.options.sampler = s.sampler;
  const auto words = read_prompts(a.words, "--words");
  set_threads(a.threads);
  auto model = load_model(a.model);
  if (a.threads == kAutoThreads) set_threads(threads_for_unet(model.unet_config, model.dtype));
  auto interpreter = Interpreter::create({}, load_model_prompt(a.model));
  std::vector<WordSheetEntry> entries;
  ProgressBar bar("words");
  const auto sheet = render_word_sheet(model, interpreter, words, a.options, entries,
                                       [&](size_t done, size_t total) { bar.update(done, total); });
  bar.finish();
  write_png(a.out, sheet);
  for (const auto& e : entries) std::cout << e.word << "\t" << e.scene << "\n";
  std::cerr << a.out << ": " << entries.size() << " words\n";
}

RegisterSubcommand reg("contact-sheet", [](CLI::App& app) {
  auto a = std::make_shared<SheetArgs>();
  auto* sub = app.add_subcommand("contact-sheet", "Words as a person types them -> pictures, on one sheet");
  sub->add_option("--words", a->words, "text file, one word per line")->required();
  sub->add_option("--out,-o", a->out, "PNG to write")->required();
  sub->add_option("--model,-m", a->model, "model (default: the bundled model)");
  add_sampling_flags(sub, a->sampling, {a->options.sampler, a->options.steps, a->options.guidance_scale, ""});
  sub->add_option("--seed", a->options.seed, "seed of the first word; word i uses seed + i")->capture_default_str();
  sub->add_option("--columns", a->options.columns, "pictures per row")->capture_default_str();
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores; default: 1 for a small model such as the bundled one, else all)")->capture_default_str();
  sub->callback([a] {
    if (a->model.empty()) a->model = bundled_model_path();
    run(*a);
  });
});

}  // namespace

}  // namespace prtkl::cli
