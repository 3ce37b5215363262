// A small, thread-safe view of the WordNet 3.0 database (Debian's wordnet-base, read by the C library in
// wordnet-dev). The C library keeps global state (open files, morphology buffers), so every call here holds one
// process-wide mutex; its header stays inside wordnet.cpp because it defines macros such as NOUN and bit().
#pragma once
#include <map>
#include <string>
#include <vector>

namespace prtkl::wordnet {

enum class Pos { Noun = 1, Verb = 2, Adj = 3, Adv = 4 };
const char* pos_name(Pos pos);
constexpr Pos kAllPos[] = {Pos::Noun, Pos::Verb, Pos::Adj, Pos::Adv};

struct SynsetId {
  Pos pos = Pos::Noun;
  long offset = 0;
  bool operator<(const SynsetId& o) const { return pos != o.pos ? pos < o.pos : offset < o.offset; }
  bool operator==(const SynsetId& o) const { return pos == o.pos && offset == o.offset; }
};

enum class Relation { Hypernym, InstanceOf, Similar, Attribute, Derivation, Pertainym, SeeAlso };

struct Link {
  Relation relation;
  SynsetId target;
};

struct Synset {
  SynsetId id;
  std::vector<std::string> words;  // lemmas with spaces, adjective markers removed, original case
  std::string lexfile;             // lexicographer file, e.g. "noun.feeling"
  std::string gloss;
  std::vector<Link> links;  // only the relations above
};

// The dictionary folder: $WNSEARCHDIR, else /usr/share/wordnet. Throws prtkl::Error naming the folder and the
// fix when index.noun is not there.
std::string database_dir();

// Base forms of `word` (spaces or underscores) as `pos`: the word itself when WordNet lists it, then what its
// morphology (mice -> mouse, running -> run) yields. Empty when neither exists.
std::vector<std::string> base_forms(const std::string& word, Pos pos);

// The senses of a lemma, most frequent first (WordNet's sense order).
std::vector<SynsetId> senses(const std::string& lemma, Pos pos);

// How often each sense of `lemma` (in sense order) was tagged in the SemCor corpus: WordNet's frequency
// evidence, used to choose between parts of speech and senses.
std::vector<int> sense_counts(const std::string& lemma, Pos pos);

Synset synset(SynsetId id);

// Every ancestor over hypernym and instance-of links (the synset itself at 0) with its shortest distance.
std::map<SynsetId, int> ancestors(SynsetId id);

}  // namespace prtkl::wordnet
