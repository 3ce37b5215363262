#include "interpret/wordnet.h"

#include <wn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>

#include "core/error.h"

namespace prtkl::wordnet {

namespace {

std::mutex& wn_mutex() {
  static std::mutex m;
  return m;
}

std::string wn_messages;  // what the C library would print to stderr, kept for the error message

int collect_message(char* msg) {
  wn_messages += msg;
  return -1;
}

// Opens the database once; the caller holds the mutex. A failed open is retried on the next call.
void ensure_open() {
  static bool open = false;
  if (open) return;
  const char* env = std::getenv("WNSEARCHDIR");
  const std::string dir = env && *env ? env : "/usr/share/wordnet";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(dir) / "index.noun", ec))
    fail("WordNet database not found in ", dir,
         " (no index.noun): install Debian's wordnet-base or set WNSEARCHDIR to the dict folder");
  // The library reads WNSEARCHDIR itself; setting it pins the folder checked above. Done once, under the mutex.
  if (!env || !*env) setenv("WNSEARCHDIR", dir.c_str(), 1);
  display_message = collect_message;
  wn_messages.clear();
  if (wninit() != 0) fail("WordNet database in ", dir, " could not be opened: ", wn_messages);
  open = true;
}

std::string to_wn(const std::string& word) {
  std::string s = word;
  for (auto& c : s) c = c == ' ' ? '_' : c;
  return s;
}

std::string from_wn(const char* word) {
  std::string s = word;
  if (const auto paren = s.find('('); paren != std::string::npos) s.erase(paren);  // "running(a)" markers
  for (auto& c : s) c = c == '_' ? ' ' : c;
  return s;
}

Pos to_pos(int wn_pos) { return wn_pos == SATELLITE ? Pos::Adj : static_cast<Pos>(wn_pos); }

bool relation_of(int ptr_type, Relation& out) {
  switch (ptr_type) {
    case HYPERPTR:
      out = Relation::Hypernym;
      return true;
    case INSTANCE:
      out = Relation::InstanceOf;
      return true;
    case SIMPTR:
      out = Relation::Similar;
      return true;
    case ATTRIBUTE:
      out = Relation::Attribute;
      return true;
    case DERIVATION:
      out = Relation::Derivation;
      return true;
    case PERTPTR:
      out = Relation::Pertainym;
      return true;
    case SEEALSOPTR:
      out = Relation::SeeAlso;
      return true;
    default:
      return false;
  }
}

// index_lookup wants a mutable, lower-case buffer.
IndexPtr lookup(const std::string& lemma, Pos pos) {
  std::string buf = to_wn(lemma);
  for (auto& c : buf) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return index_lookup(buf.data(), static_cast<int>(pos));
}

Synset read(SynsetId id) {
  SynsetPtr s = read_synset(static_cast<int>(id.pos), id.offset, nullptr);
  if (!s) fail("WordNet: no ", pos_name(id.pos), " synset at offset ", id.offset);
  Synset out;
  out.id = id;
  for (int i = 0; i < s->wcount; ++i) out.words.push_back(from_wn(s->words[i]));
  out.lexfile = s->fnum >= 0 && s->fnum < MAXFNUM ? lexfiles[s->fnum] : "";
  out.gloss = s->defn ? s->defn : "";
  for (int i = 0; i < s->ptrcount; ++i) {
    Relation r;
    if (relation_of(s->ptrtyp[i], r)) out.links.push_back({r, {to_pos(s->ppos[i]), s->ptroff[i]}});
  }
  free_synset(s);
  return out;
}

}  // namespace

const char* pos_name(Pos pos) {
  switch (pos) {
    case Pos::Noun:
      return "noun";
    case Pos::Verb:
      return "verb";
    case Pos::Adj:
      return "adjective";
    case Pos::Adv:
      return "adverb";
  }
  return "?";
}

std::string database_dir() {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  return std::getenv("WNSEARCHDIR");
}

std::vector<std::string> base_forms(const std::string& word, Pos pos) {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  std::vector<std::string> out;
  if (IndexPtr idx = lookup(word, pos)) {
    out.push_back(from_wn(idx->wd));
    free_index(idx);
  }
  std::string buf = to_wn(word);
  for (char* form = morphstr(buf.data(), static_cast<int>(pos)); form;
       form = morphstr(nullptr, static_cast<int>(pos))) {
    const auto f = from_wn(form);
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  return out;
}

std::vector<SynsetId> senses(const std::string& lemma, Pos pos) {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  std::vector<SynsetId> out;
  if (IndexPtr idx = lookup(lemma, pos)) {
    for (int i = 0; i < idx->off_cnt; ++i) out.push_back({pos, static_cast<long>(idx->offset[i])});
    free_index(idx);
  }
  return out;
}

std::vector<int> sense_counts(const std::string& lemma, Pos pos) {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  std::vector<int> counts;
  if (IndexPtr idx = lookup(lemma, pos)) {
    for (int i = 0; i < idx->off_cnt; ++i) counts.push_back(GetTagcnt(idx, i + 1));
    free_index(idx);
  }
  return counts;
}

Synset synset(SynsetId id) {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  return read(id);
}

std::map<SynsetId, int> ancestors(SynsetId id) {
  std::lock_guard<std::mutex> lock(wn_mutex());
  ensure_open();
  // Matching against a large concept inventory climbs the same upper hierarchy thousands of times; a synset's
  // parents are read from the database once per process (the noun hierarchy is a few ten thousand entries).
  static std::map<SynsetId, std::vector<SynsetId>> parents_of;
  std::map<SynsetId, int> dist{{id, 0}};
  std::deque<SynsetId> queue{id};
  while (!queue.empty()) {
    const auto cur = queue.front();
    queue.pop_front();
    const int d = dist[cur];
    if (d >= MAXDEPTH) continue;  // WordNet's own cycle guard
    auto parents = parents_of.find(cur);
    if (parents == parents_of.end()) {
      std::vector<SynsetId> up;
      for (const auto& link : read(cur).links)
        if (link.relation == Relation::Hypernym || link.relation == Relation::InstanceOf) up.push_back(link.target);
      parents = parents_of.emplace(cur, std::move(up)).first;
    }
    for (const auto& p : parents->second)
      if (dist.emplace(p, d + 1).second) queue.push_back(p);
  }
  return dist;
}

}  // namespace prtkl::wordnet
