// The concept inventory of a model trained on a fixed set of pictures (the bundled emoji model): concepts.json,
// written by `prtkl dataset emoji`, names each concept's caption (what the model learnt to draw from) and its CLDR
// label and keywords in several languages. It lands a word in any of those languages on the concept that shows
// it best.
//
//   {"concepts": [{"id": "people-hugging", "caption": "people hugging", "keywords": ["hug", "love", ...],
//                  "names": {"en": ["people hugging", "hug", ...], "de": ["sich umarmende Personen", ...]}}, ...]}
//
// Words match whole labels and keywords, lower-cased in every script ("Liebe" = "liebe", "爱" is one keyword,
// not a character of longer ones).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/json_config.h"
#include "interpret/concepts.h"

namespace prtkl {

struct EnglishPivot {
  std::string word;  // the English label or keyword that stands for the word
  std::string reason;
};

class Inventory {
 public:
  // Reads and validates concepts.json; errors name the file, the concept and the field.
  static Inventory load(const std::string& path);
  static Inventory from_json(const Json& json, const std::string& source, const std::string& hash);

  const std::vector<std::string>& captions() const { return captions_; }
  const std::string& source() const { return source_; }
  // Content hash of the file: part of the prompt version, so a new inventory recomputes cached words.
  const std::string& hash() const { return hash_; }

  // For a word that is a label or keyword in another language but not in English ("amor", "Liebe", "爱"): the
  // English word whose concepts agree best with the word's (most shared, fewest others: "love"), so the word
  // lands where its English counterpart does. None for English words and words the inventory does not know.
  std::optional<EnglishPivot> english_pivot(const std::string& word) const;

  // The concept for an English word and the scene a provider found for it, the first rule that applies:
  //   1. the word is a concept's caption ("cat" -> cat);
  //   2. the scene shows concepts (every word of the caption in the scene: "two people hugging" shows "people
  //      hugging"); a concept that also has the word as CLDR keyword wins, then the longest caption;
  //   3. the concepts with the word as English label or keyword, by WordNet similarity (nearest_concept);
  //   4. every concept by WordNet similarity.
  // Ties in 3 and 4 go to the shorter caption (a simpler picture), then to the inventory's order.
  ConceptMatch match(const std::string& word, const std::string& scene) const;

 private:
  std::string source_;
  std::string hash_;
  std::vector<std::string> captions_;
  std::vector<std::vector<std::string>> english_;       // per concept: its English label and keywords, folded
  std::unordered_map<std::string, size_t> by_caption_;  // folded caption -> concept
  std::unordered_map<std::string, std::vector<size_t>> english_index_;  // English label or keyword -> concepts
  struct ForeignHit {
    size_t concept;
    std::string language;
  };
  std::unordered_map<std::string, std::vector<ForeignHit>> foreign_index_;  // other languages
  // Caption words and their noun base forms -> (concept, word position), for "the scene shows the concept".
  std::unordered_map<std::string, std::vector<std::pair<size_t, size_t>>> caption_words_;
  std::vector<size_t> caption_word_counts_;
  std::vector<std::string> simplest_first_;  // captions ordered by word count, stable
  // Rule 4's WordNet senses of every caption, looked up on first use (a second or so): most words never need it.
  struct AllSenses {
    std::once_flag once;
    std::unique_ptr<const ConceptSenses> senses;
  };
  std::shared_ptr<AllSenses> all_senses_ = std::make_shared<AllSenses>();
};

}  // namespace prtkl
