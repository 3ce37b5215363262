// The default provider: works with no model and no network. The curated lexicon answers the words it lists;
// every other English word goes through WordNet: lemmatised, its most common part of speech and sense chosen,
// then concrete nouns become "a <noun>", verbs "a figure <verb>ing", and abstract nouns and adjectives borrow
// the scene of the nearest lexicon word among their hypernyms and related words. Input that is no English word
// gets the lexicon's generic fallback scene, so a valid word never goes unanswered.
#pragma once
#include <memory>
#include <string>

#include "interpret/lexicon.h"
#include "interpret/provider.h"

namespace prtkl {

class OfflineProvider : public Provider {
 public:
  explicit OfflineProvider(std::shared_ptr<const Lexicon> lexicon);
  std::string name() const override { return "offline"; }
  std::string cache_id() const override { return cache_id_; }
  ProviderAnswer interpret(const std::string& word) override;

 private:
  std::shared_ptr<const Lexicon> lexicon_;
  std::string cache_id_;
};

// English helpers, exposed for tests.
std::string with_article(const std::string& noun);  // "an owl", "a unicorn", "an hour"
std::string gerund(const std::string& verb);        // run -> running, make -> making, lie -> lying

}  // namespace prtkl
