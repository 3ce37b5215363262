// The bits of Unicode the tokenizers and the word validation need: UTF-8 decoding/encoding and general categories, from tables
// generated out of the same database the reference (Python) tokenizers consult.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace prtkl::unicode {

std::vector<char32_t> decode_utf8(const std::string& text);  // invalid bytes become U+FFFD
std::string encode_utf8(const std::u32string& cps);
std::string encode_utf8(char32_t cp);

bool is_letter(char32_t cp);  // \p{L}
bool is_number(char32_t cp);  // \p{N}
bool is_other(char32_t cp);   // \p{C}: control, format, surrogate, private use, unassigned
bool is_space_separator(char32_t cp);  // \p{Zs}
bool is_whitespace(char32_t cp);       // Python's str.isspace()
char32_t to_lower(char32_t cp);        // Python's str.lower() for single-code-point results

}  // namespace prtkl::unicode
