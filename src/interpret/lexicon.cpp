#include "interpret/lexicon.h"

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "interpret/sanitize.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

bool is_special(const std::string& category) { return category == "lexfile" || category == "fallback"; }

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  for (char c : line) {
    if (c == '\t') {
      fields.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  fields.push_back(cur);
  return fields;
}

fs::path executable_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

}  // namespace

Lexicon Lexicon::load(const std::string& path) {
  Lexicon lex;
  lex.path_ = path;
  const std::string text = read_file(path);
  lex.hash_ = content_hash(text);
  std::istringstream in(text);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto fields = split_tabs(line);
    if (fields.size() != 3)
      fail(path, ":", lineno, ": expected word<TAB>category<TAB>scene, got ", fields.size(), " fields");
    LexiconEntry e{fields[0], fields[1], fields[2]};
    if (e.word.empty() || e.category.empty()) fail(path, ":", lineno, ": empty word or category");
    if (!is_special(e.category) && normalize_word(e.word) != e.word)
      fail(path, ":", lineno, ": '", e.word, "' is not a normalised word (lower case, letters)");
    try {
      if (sanitize_scene(e.scene) != e.scene) fail("write it lower case without edge punctuation");
    } catch (const Error& err) {
      fail(path, ":", lineno, ": scene of '", e.word, "' is not a clean scene: ", err.what());
    }
    if (!lex.index_.emplace(e.word, lex.entries_.size()).second)
      fail(path, ":", lineno, ": '", e.word, "' is listed twice");
    if (e.category == "fallback") lex.fallback_ = e.scene;
    lex.entries_.push_back(std::move(e));
  }
  if (lex.fallback_.empty()) fail(path, ": no fallback entry (word '*', category 'fallback')");
  return lex;
}

std::string Lexicon::default_path() {
  if (const char* env = std::getenv("PRTKL_LEXICON")) return env;
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("PRTKL_DATA_DIR")) candidates.push_back(fs::path(dir) / "lexicon.tsv");
  // An installed binary finds share/prtkl beside it; one in a build folder finds the checkout's data/.
  auto dir = executable_dir();
  for (int up = 0; up < 3 && !dir.empty(); ++up, dir = dir.parent_path()) {
    candidates.push_back(dir / "data" / "lexicon.tsv");
    candidates.push_back(dir / "share" / "prtkl" / "lexicon.tsv");
  }
  candidates.push_back(fs::path(__FILE__).parent_path().parent_path().parent_path() / "data" / "lexicon.tsv");
  std::string tried;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c.string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  fail("lexicon.tsv not found (tried ", tried, "); set PRTKL_DATA_DIR or PRTKL_LEXICON");
}

const LexiconEntry* Lexicon::find(const std::string& word) const {
  const auto it = index_.find(word);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::vector<LexiconEntry> Lexicon::words() const {
  std::vector<LexiconEntry> out;
  for (const auto& e : entries_)
    if (!is_special(e.category)) out.push_back(e);
  return out;
}

}  // namespace prtkl
