#include "interpret/interpreter.h"

#include "core/error.h"
#include "interpret/concepts.h"
#include "interpret/lexicon.h"
#include "interpret/offline_provider.h"
#include "interpret/sanitize.h"

namespace prtkl {

Json Interpretation::to_json() const {
  Json j{{"word", word},
         {"scene", scene},
         {"provider_scene", provider_scene},
         {"prompt", prompt},
         {"negative_prompt", negative_prompt},
         {"provider", provider},
         {"detail", detail},
         {"cached", cached},
         {"fallbacks", fallbacks}};
  if (!concept.empty()) j["concept"] = {{"name", concept}, {"score", concept_score}, {"reason", concept_reason}};
  return j;
}

Interpretation Interpretation::from_json(const Json& j) {
  Interpretation r;
  r.word = j.at("word").get<std::string>();
  r.scene = j.at("scene").get<std::string>();
  r.provider_scene = j.at("provider_scene").get<std::string>();
  r.prompt = j.at("prompt").get<std::string>();
  r.negative_prompt = j.at("negative_prompt").get<std::string>();
  r.provider = j.at("provider").get<std::string>();
  r.detail = j.at("detail").get<std::string>();
  if (j.contains("concept")) {
    r.concept = j["concept"].at("name").get<std::string>();
    r.concept_score = j["concept"].at("score").get<double>();
    r.concept_reason = j["concept"].at("reason").get<std::string>();
  }
  return r;
}

const std::vector<std::string>& provider_names() {
  static const std::vector<std::string> names = {"offline", "openai"};
  return names;
}

InterpreterOptions parse_interpreter_options(const Json& json, const std::string& source) {
  const Json& j = json.is_object() && json.contains("interpret") ? json.at("interpret") : json;
  if (!j.is_object()) fail(source, ": expected a JSON object");
  const Config cfg(j, source);
  InterpreterOptions o;
  o.providers = cfg.get_or<std::vector<std::string>>("providers", o.providers);
  if (cfg.has("openai")) o.openai = parse_openai_options(j.at("openai"), source);
  o.lexicon_path = cfg.get_or<std::string>("lexicon", "");
  o.cache_path = cfg.get_or<std::string>("cache", "");
  return o;
}

Interpreter::Interpreter(std::vector<std::unique_ptr<Provider>> chain, ModelPrompt model,
                         std::shared_ptr<InterpretCache> cache)
    : chain_(std::move(chain)), model_(std::move(model)), cache_(std::move(cache)) {
  if (chain_.empty()) fail("interpret: no providers configured");
}

Interpreter Interpreter::create(const InterpreterOptions& options, ModelPrompt model) {
  std::vector<std::unique_ptr<Provider>> chain;
  for (const auto& name : options.providers) {
    if (name == "offline") {
      const auto path = options.lexicon_path.empty() ? Lexicon::default_path() : options.lexicon_path;
      chain.push_back(std::make_unique<OfflineProvider>(std::make_shared<const Lexicon>(Lexicon::load(path))));
    } else if (name == "openai") {
      chain.push_back(std::make_unique<OpenAIProvider>(options.openai));
    } else {
      std::string known;
      for (const auto& n : provider_names()) known += (known.empty() ? "" : ", ") + n;
      fail("unknown interpret provider '", name, "' (known: ", known, ")");
    }
  }
  auto cache = options.cache_path.empty() ? nullptr : std::make_shared<InterpretCache>(options.cache_path);
  return Interpreter(std::move(chain), std::move(model), std::move(cache));
}

Interpretation Interpreter::interpret(const std::string& raw_word) {
  const std::string word = normalize_word(raw_word);
  // A word the inventory knows only in another language is read as its English counterpart, so "amor" lands
  // where "love" does.
  const auto pivot = model_.inventory ? model_.inventory->english_pivot(word) : std::nullopt;
  const std::string& asked = pivot ? pivot->word : word;
  const std::string version = model_.version();
  std::vector<std::string> fallbacks;
  for (auto& provider : chain_) {
    const CacheKey key{word, provider->cache_id(), model_.model_id, version};
    if (cache_) {
      if (const auto hit = cache_->get(key)) {
        try {
          auto r = Interpretation::from_json(*hit);
          r.cached = true;
          r.fallbacks = fallbacks;
          return r;
        } catch (const Json::exception&) {
          // a row from an older layout: ask the provider again and overwrite it
        }
      }
    }
    Interpretation r;
    try {
      const auto answer = provider->interpret(asked);
      r.provider_scene = sanitize_scene(answer.scene);
      r.detail = pivot ? answer.detail + ", for English '" + asked + "'" : answer.detail;
    } catch (const std::exception& e) {
      fallbacks.push_back(provider->name() + ": " + e.what());
      continue;
    }
    r.word = word;
    r.provider = provider->name();
    r.scene = r.provider_scene;
    if (!model_.concepts.empty()) {
      auto match = model_.inventory ? model_.inventory->match(asked, r.provider_scene)
                                    : nearest_concept(word, r.provider_scene, model_.concepts);
      if (pivot) match.reason = pivot->reason + "; " + match.reason;
      r.concept = match.concept;
      r.concept_score = match.score;
      r.concept_reason = match.reason;
      r.scene = match.concept;
    }
    r.prompt = model_.assemble(r.scene);
    r.negative_prompt = model_.negative_prompt;
    if (cache_) cache_->put(key, r.to_json());
    r.fallbacks = fallbacks;
    return r;
  }
  std::string why;
  for (const auto& f : fallbacks) why += (why.empty() ? "" : "; ") + f;
  fail("no provider could interpret '", word, "': ", why);
}

}  // namespace prtkl
