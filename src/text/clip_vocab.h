// CLIP's vocabulary as a function of its BPE merges, and tokenizer folders in transformers' CLIPTokenizer format:
// what the BPE trainer writes for a model of its own, and the tokenizers of SD 1.x and SDXL, built from OpenAI
// CLIP's merges (third_party/clip) so a single checkpoint file needs nothing beside it.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "text/clip_tokenizer.h"

namespace prtkl {

using BpeMerges = std::vector<std::pair<std::string, std::string>>;

// Token strings in id order: the 256 byte characters, the same with </w>, one token per merge (a repeat keeps its
// first id), <|startoftext|>, <|endoftext|>. For CLIP's merges that is its 49,408-token vocab.json.
std::vector<std::string> clip_vocab_tokens(const BpeMerges& merges);

// merges.txt: an optional "#version" first line, then one "a b" merge per line, highest priority first.
BpeMerges read_bpe_merges(const std::string& path);

struct ClipTokenizerOptions {
  std::string pad_token = "<|endoftext|>";  // SDXL's second tokenizer pads with "!"
  int64_t window = ClipTokenizer::kClipWindow;
};

// A tokenizer from merges alone, and the same written as a folder (vocab.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json) that ClipTokenizer::load and transformers' CLIPTokenizer read.
ClipTokenizer clip_tokenizer_from_merges(const BpeMerges& merges, const ClipTokenizerOptions& options = {});
void write_clip_tokenizer(const BpeMerges& merges, const ClipTokenizerOptions& options, const std::string& out_dir);

// OpenAI CLIP's merges as prtkl ships them, and the tokenizers built from them: SD 1.x's and SDXL's first
// (options.pad_token "<|endoftext|>") and SDXL's second ("!").
std::string openai_clip_merges_path();
ClipTokenizer openai_clip_tokenizer(const ClipTokenizerOptions& options = {});

}  // namespace prtkl
