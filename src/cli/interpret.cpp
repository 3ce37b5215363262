// `prtkl interpret WORD`: the scene a word becomes and the final prompt for a model.
#include <iostream>

#include "cli/cli_util.h"
#include "cli/subcommand.h"
#include "core/file_util.h"
#include "diffusion/models_folder.h"
#include "interpret/interpreter.h"

namespace prtkl::cli {

namespace {

struct Args {
  std::string word;
  std::string providers;  // comma-separated; overrides the config
  std::string model;
  std::string config;
  std::string cache;
  bool no_cache = false;
  bool json = false;
};

void run(const Args& a) {
  InterpreterOptions options;
  if (!a.config.empty()) options = parse_interpreter_options(read_json_file(a.config), a.config);
  if (!a.providers.empty()) options.providers = split_commas(a.providers);
  if (a.no_cache) {
    options.cache_path.clear();
  } else if (!a.cache.empty()) {
    options.cache_path = a.cache;
  } else if (options.cache_path.empty()) {
    options.cache_path = InterpretCache::default_path();
  }
  // Without --model the prompt is shaped for the model `prtkl generate` draws with by default, the bundled one.
  const auto model = a.model.empty() ? bundled_model_path() : find_in_models(a.model);
  auto interpreter = Interpreter::create(options, load_model_prompt(model));
  const auto r = interpreter.interpret(a.word);
  if (a.json) {
    std::cout << r.to_json().dump(2) << "\n";
    return;
  }
  std::cout << "scene:    " << r.scene << "\n"
            << "prompt:   " << r.prompt << "\n"
            << "negative: " << r.negative_prompt << "\n"
            << "provider: " << r.provider << " (" << r.detail << (r.cached ? ", cached" : "") << ")\n";
  if (!r.concept.empty())
  std::cout << "concept:  " << r.concept << " (score " << r.concept_score << ", " << r.concept_reason << ")\n";
  for (const auto& f : r.fallbacks) std::cout << "skipped:  " << f << "\n";
}

RegisterSubcommand reg("interpret", [](CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("interpret", "Turn one word into a drawable scene and the model's prompt");
  sub->add_option("word", args->word, "the word (a short compound like 'ice cream' is fine)")->required();
  sub->add_option("--provider", args->providers,
                  "provider chain, first tried first: offline, openai (e.g. openai,offline); default offline");
  sub->add_option("--model", args->model,
                  "model folder or file whose prtkl.json shapes the prompt (default: the bundled model, as generate)");
  sub->add_option("--config", args->config, "JSON config with providers, openai settings, lexicon and cache");
  sub->add_option("--cache", args->cache, "SQLite cache file (default ~/.cache/prtkl/interpret.sqlite)");
  sub->add_flag("--no-cache", args->no_cache, "neither read nor write the cache");
  sub->add_flag("--json", args->json, "print JSON");
  sub->callback([args] { run(*args); });
});

}  // namespace

}  // namespace prtkl::cli
