// Learns a CLIP-format BPE vocabulary (vocab.json + merges.txt) from text, for a model trained from scratch:
// the bundled model's captions need no 49,408-token CLIP vocabulary, and that file cannot ship here. The layout
// is CLIP's (256 byte characters, the same with </w>, one token per merge in merge order, then the two special
// tokens), so ClipTokenizer and transformers' CLIPTokenizer read the folder unchanged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "text/clip_tokenizer.h"

namespace prtkl {

struct BpeTrainResult {
  int64_t vocab_size = 0, merges = 0, words = 0;  // words: distinct pre-tokenized words seen
};

// Merges the most frequent adjacent pair (ties: the smaller pair) until the vocabulary has `vocab_size` tokens
// or no pair occurs twice. Writes vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json;
// window is the model_max_length written there (the token count prompts are padded to, bos and eos included).
BpeTrainResult train_clip_bpe(const std::vector<std::string>& texts, int64_t vocab_size, const std::string& out_dir,
                              int64_t window = ClipTokenizer::kClipWindow);

// The same, over the "text" fields of a metadata.jsonl (one JSON object per line).
BpeTrainResult train_tokenizer_from_metadata(const std::string& jsonl, int64_t vocab_size, const std::string& out_dir,
                                             int64_t window = ClipTokenizer::kClipWindow);

}  // namespace prtkl
