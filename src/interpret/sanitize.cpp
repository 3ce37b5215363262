#include "interpret/sanitize.h"

#include <algorithm>
#include <cstdio>
#include <regex>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/unicode.h"

namespace prtkl {

namespace {

using Text = std::u32string;

bool decode_utf8(const std::string& s, Text& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8.
    static const char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    out.push_back(cp);
    i += len;
  }
  return true;
}

std::string describe(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  if (cp < 0x20 || cp == 0x7F) return buf;
  return "'" + unicode::encode_utf8(Text(1, cp)) + "' (" + buf + ")";
}

bool is_space(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// Controls and invisible format characters (zero-width, bidi overrides, tags): they hide text from a reader.
bool is_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
         (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xE0000 && cp <= 0xE0FFF);
}

// Letters of any script, approximated by block: Latin, Greek, Cyrillic, Hebrew, Arabic, Indic, CJK, Hangul and
// the rest count; punctuation, symbol, emoji and private-use blocks do not. Combining marks count, so decomposed
// accents stay with their letter.
bool is_letter(char32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return true;
  if (cp < 0xC0) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
  if (cp == 0xD7 || cp == 0xF7) return false;
  if (cp < 0x2000) return true;
  if (cp < 0x2C00) return false;  // punctuation, symbols, arrows, math, box drawing, dingbats
  if (cp < 0x2E00) return true;   // Glagolitic, Coptic, Tifinagh, Cyrillic extensions
  if (cp < 0x2E80 || (cp >= 0x3000 && cp <= 0x303F)) return false;  // supplemental and CJK punctuation
  if (cp < 0xD800) return true;                                     // CJK, kana, Hangul, Yi
  if (cp < 0xF900) return false;                                    // surrogates, private use
  if (cp < 0xFE00) return true;                                     // CJK compatibility, presentation forms
  if (cp >= 0xFE70 && cp <= 0xFEFC) return true;                    // Arabic presentation forms B
  if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A) || (cp >= 0xFF66 && cp <= 0xFFDC))
    return true;  // full-width Latin, half-width kana and Hangul
  if (cp < 0x10000) return false;
  if (cp >= 0x1F000 && cp < 0x20000) return false;  // emoji and pictographs
  return cp < 0x40000;                              // historic scripts, CJK extensions
}

bool is_digit(char32_t cp) { return cp >= '0' && cp <= '9'; }

char32_t fold(char32_t cp) {
  if (cp == 0x2018 || cp == 0x2019 || cp == 0x02BC || cp == 0x2032) return '\'';
  if (cp == 0x2010 || cp == 0x2011) return '-';
  if (is_space(cp)) return ' ';
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;  // Latin-1 capitals
  return cp;
}

Text trim(const Text& t) {
  size_t b = 0, e = t.size();
  while (b < e && is_space(t[b])) ++b;
  while (e > b && is_space(t[e - 1])) --e;
  return t.substr(b, e - b);
}

// Marks that may wrap a word or a scene without being part of it.
bool is_edge_punct(char32_t cp) {
  static const std::u32string marks =
      U".,!?;:\"'`()[]{}*_~-\u201C\u201D\u201E\u00AB\u00BB\u2039\u203A\u201A\u2026\u00A1\u00BF";
  return marks.find(cp) != std::u32string::npos;
}

Text strip_edges(Text t) {
  for (;;) {
    t = trim(t);
    if (!t.empty() && is_edge_punct(t.front())) {
      t.erase(0, 1);
    } else if (!t.empty() && is_edge_punct(t.back())) {
      t.pop_back();
    } else {
      return t;
    }
  }
}

Text collapse_spaces(const Text& t) {
  Text out;
  for (char32_t cp : t) {
    if (cp == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(cp);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> split(const std::string& s, const std::string& seps) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string::npos) {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// "ignore previous instructions", "system prompt", "you are now": words that make sense alone but together
// address the model rather than name a thing.
bool looks_like_instruction(const std::string& word) {
  static const std::set<std::string> strong = {"instruction", "instructions", "prompt",    "prompts", "jailbreak",
                                               "system",      "assistant",    "disregard", "override"};
  static const std::set<std::string> weak = {"ignore", "forget", "previous", "above",   "prior", "earlier", "rules",
                                             "say",    "print",  "output",   "respond", "reply", "pretend", "act",
                                             "now",    "you",    "your",     "instead", "write", "tell"};
  const auto parts = split(word, " -");
  if (parts.size() < 2) return false;
  int weak_hits = 0;
  for (const auto& p : parts) {
    if (strong.count(p)) return true;
    weak_hits += weak.count(p) ? 1 : 0;
  }
  return weak_hits >= 2;
}

}  // namespace

std::string normalize_word(const std::string& raw) {
  Text text;
  if (!decode_utf8(raw, text)) fail("the word is not valid UTF-8");
  text = trim(text);
  if (text.empty()) fail("the word is empty");
  if (text.size() > static_cast<size_t>(kMaxWordChars))
    fail("the word is longer than ", kMaxWordChars, " characters (", text.size(), ")");
  for (char32_t cp : text)
    if (is_control(cp)) fail("the word contains a control or invisible character ", describe(cp));
  const std::string utf8 = unicode::encode_utf8(text);
  static const std::regex markup(R"(<|>|&#?[A-Za-z0-9]+;)");
  if (std::regex_search(utf8, markup)) fail("the word looks like HTML or script text, not a word: ", utf8);

  Text folded;
  for (char32_t cp : text) folded.push_back(fold(cp));
  folded = collapse_spaces(strip_edges(folded));
  const bool any_letter = std::any_of(folded.begin(), folded.end(), is_letter);
  if (!any_letter) {
    if (std::any_of(text.begin(), text.end(), is_digit)) fail("the word is only digits: give a word");
    fail("the word has no letters: ", utf8);
  }
  for (size_t i = 0; i < folded.size(); ++i) {
    const char32_t cp = folded[i];
    if (is_letter(cp) || is_digit(cp) || cp == ' ' || cp == '-' || cp == '\'') continue;
    fail("the word contains ", describe(cp), ", which is not a letter");
  }
  const std::string word = unicode::encode_utf8(folded);
  const auto tokens = split(word, " ");
  if (looks_like_instruction(word)) fail("the input looks like an instruction, not a word");
  if (tokens.size() > static_cast<size_t>(kMaxWordTokens))
    fail("give one word, not a sentence (", tokens.size(), " words)");
  return word;
}

std::string sanitize_scene(const std::string& answer) {
  Text text;
  if (!decode_utf8(answer, text)) fail("the answer is not valid UTF-8");
  text = trim(text);
  if (text.empty()) fail("the answer is empty");
  for (char32_t cp : text)
    if (cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029) fail("the answer has more than one line");
  Text folded;
  for (char32_t cp : text) folded.push_back(fold(cp));
  folded = collapse_spaces(strip_edges(folded));
  for (const Text label : {U"scene:", U"prompt:", U"answer:"}) {
    if (folded.compare(0, label.size(), label) == 0) {
      folded = collapse_spaces(strip_edges(folded.substr(label.size())));
      break;
    }
  }
  if (folded.empty()) fail("the answer is empty");
  for (size_t i = 0; i < folded.size(); ++i) {
    const char32_t cp = folded[i];
    if (is_letter(cp) || is_digit(cp) || cp == ' ' || cp == '-' || cp == ',') continue;
    // An apostrophe only inside a word ("a child's kite"); anywhere else it is a quote.
    if (cp == '\'' && i > 0 && i + 1 < folded.size() && is_letter(folded[i - 1]) && is_letter(folded[i + 1])) continue;
    fail("the answer contains ", describe(cp), ": ", unicode::encode_utf8(folded));
  }
  const std::string scene = unicode::encode_utf8(folded);
  const auto words = split(scene, " ");
  if (words.size() > static_cast<size_t>(kMaxSceneWords))
    fail("the answer has ", words.size(), " words, more than ", kMaxSceneWords);
  return scene;
}

}  // namespace prtkl
