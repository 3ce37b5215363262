// Word -> scene -> prompt. The Interpreter validates the word, asks a chain of providers in order (for example
// openai, then offline) and takes the first clean scene: a provider that throws, times out or answers something
// sanitize_scene rejects hands over to the next, and the result names the provider that answered and why the
// earlier ones did not. Scenes are mapped onto the model's concept inventory when it declares one (with a
// keyword inventory, a word it knows only in another language is first read as its English counterpart and the
// providers are asked for that), assembled into the model's prompt, and cached by (word, provider, model,
// template version).
//
// interpret() may be called from several threads when the providers allow it (the built-in ones do).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json_config.h"
#include "interpret/cache.h"
#include "interpret/model_prompt.h"
#include "interpret/openai_provider.h"
#include "interpret/provider.h"

namespace prtkl {

struct Interpretation {
  std::string word;            // the normalised word
  std::string scene;           // what the picture shows: the chosen concept when the model has an inventory
  std::string provider_scene;  // the provider's (sanitised) scene, before concept mapping
  std::string prompt;          // the model's final prompt
  std::string negative_prompt;
  std::string provider;  // the provider that answered
  std::string detail;    // how it answered
  std::string concept;   // empty without a concept inventory
  double concept_score = 0;
  std::string concept_reason;
  bool cached = false;
  std::vector<std::string> fallbacks;  // "openai: <why>" for each provider that did not answer first

  Json to_json() const;
  static Interpretation from_json(const Json& json);
};

struct InterpreterOptions {
  std::vector<std::string> providers = {"offline"};  // the fallback chain, first tried first
  OpenAIOptions openai;
  std::string lexicon_path;  // empty: Lexicon::default_path()
  std::string cache_path;    // empty: no cache
};

// Known provider names, for help texts and errors.
const std::vector<std::string>& provider_names();

// Options from a config file: either the object itself or one under the key "interpret", with fields
// "providers" (list), "openai" (object, see OpenAIOptions), "lexicon" and "cache" (paths).
InterpreterOptions parse_interpreter_options(const Json& json, const std::string& source);

class Interpreter {
 public:
  Interpreter(std::vector<std::unique_ptr<Provider>> chain, ModelPrompt model,
              std::shared_ptr<InterpretCache> cache = nullptr);
  // Builds the providers named in `options` (unknown names are errors) and opens the cache.
  static Interpreter create(const InterpreterOptions& options, ModelPrompt model);

  // Throws prtkl::Error for bad input, and when no provider answers.
  Interpretation interpret(const std::string& raw_word);

  const ModelPrompt& model() const { return model_; }

 private:
  std::vector<std::unique_ptr<Provider>> chain_;
  ModelPrompt model_;
  std::shared_ptr<InterpretCache> cache_;
};

}  // namespace prtkl
