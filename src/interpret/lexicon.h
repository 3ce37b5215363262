// The curated lexicon of the offline interpreter: word -> concrete, drawable scene, kept as data/lexicon.tsv
// (format in that file's header). Besides words it holds the last-resort scenes: one per WordNet lexicographer
// file (key "noun.feeling", ...) and the generic fallback (key "*").
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

namespace prtkl {

struct LexiconEntry {
  std::string word;
  std::string category;
  std::string scene;
};

class Lexicon {
 public:
  // Reads and validates a lexicon file; errors name the file and line.
  static Lexicon load(const std::string& path);
  // $PRTKL_LEXICON, else lexicon.tsv in $PRTKL_DATA_DIR, in data/ or share/prtkl/ beside or above the
  // executable, or in the source checkout this was built from.
  static std::string default_path();

  const LexiconEntry* find(const std::string& word) const;
  // Entries that are words (not lexicographer-file or fallback scenes).
  std::vector<LexiconEntry> words() const;
  const std::string& fallback_scene() const { return fallback_; }
  const std::string& path() const { return path_; }
  // Content hash of the file: part of the offline provider's cache key, so editing the lexicon invalidates.
  const std::string& hash() const { return hash_; }

 private:
  std::vector<LexiconEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::string fallback_;
  std::string path_;
  std::string hash_;
};

}  // namespace prtkl
