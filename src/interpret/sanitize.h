// The two trust boundaries of interpretation: the word a user types and the scene a provider answers. Both are
// reduced to a small alphabet here, so nothing either side sends can add prompt syntax (weights, brackets,
// newlines), change the output format or smuggle an instruction into the model prompt.
#pragma once
#include <string>

namespace prtkl {

constexpr int kMaxWordChars = 64;  // in code points, before normalisation
constexpr int kMaxWordTokens = 3;  // a word or a short compound ("ice cream"), never a sentence
constexpr int kMaxSceneWords = 20;

// Validates and normalises user input: trims, lower-cases ASCII, strips punctuation at the edges, folds
// typographic apostrophes and inner whitespace. Letters of any script are allowed. Throws prtkl::Error with the
// reason for empty input, more than 64 characters, invalid UTF-8, control or invisible characters, HTML or
// script text, digits only, symbols inside the word, sentences and instruction-like phrases.
std::string normalize_word(const std::string& raw);

// Returns the scene a provider answered as one clean line: trims, drops one pair of enclosing quotes or
// emphasis marks, a "scene:" label and trailing punctuation. Throws prtkl::Error (the caller falls back to the
// next provider) for an empty answer, several lines, more than 20 words, or any character beyond letters,
// digits, spaces, hyphens, commas and apostrophes inside words.
std::string sanitize_scene(const std::string& answer);

}  // namespace prtkl
