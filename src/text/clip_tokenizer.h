// CLIP's byte-level BPE tokenizer (vocab.json + merges.txt), as transformers' slow CLIPTokenizer runs without
// ftfy: text cleanup, lower-casing, CLIP's split pattern, `</w>` word ends, BPE by merge rank. Added tokens
// (specials, SDXL's "!" pad token, textual-inversion tokens) are matched in the raw text before BPE.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace prtkl {

class ClipTokenizer {
 public:
  static constexpr int64_t kClipWindow = 77;  // CLIP's context: bos + 75 tokens + eos

  // A tokenizer folder: vocab.json, merges.txt and tokenizer_config.json (or special_tokens_map.json). The
  // window is tokenizer_config.json's model_max_length (what diffusers pads to); CLIP's 77 when it is absent or
  // transformers' "no limit" sentinel.
  static ClipTokenizer load(const std::string& dir);

  // What a tokenizer is made of (what load reads from the folder): ids by token, merges by priority, the special
  // tokens, tokens matched before BPE besides those, the window, and where it came from (for errors).
  struct Parts {
    std::unordered_map<std::string, int64_t> vocab;
    std::vector<std::pair<std::string, std::string>> merges;
    std::string bos = "<|startoftext|>", eos = "<|endoftext|>", pad = "<|endoftext|>";
    std::vector<std::string> added;
    int64_t window = kClipWindow;
    std::string source;
  };
  static ClipTokenizer from_parts(Parts parts);

  std::vector<int64_t> encode(const std::string& text) const;  // bos + tokens + eos, untruncated
  // diffusers' behaviour: truncated to bos + (max_length - 2) + eos, padded with the pad token; max_length 0 is
  // the window.
  std::vector<int64_t> encode_padded(const std::string& text, int64_t max_length = 0) const;
  // Long prompts as AUTOMATIC1111/ComfyUI do it: chunks of window - 2 tokens, each [bos] + chunk + [eos] padded
  // to the window (75 and 77 for CLIP). Always at least one chunk; nothing is cut.
  std::vector<std::vector<int64_t>> encode_chunks(const std::string& text) const;
  int64_t window() const { return window_; }

  // The words BPE sees for `text` (cleanup, lower-casing, CLIP's split), each as GPT-2 byte characters: what
  // a BPE vocabulary is trained on (text/bpe_trainer.h).
  static std::vector<std::string> pretokenize(const std::string& text);
  // GPT-2's byte -> printable character table, UTF-8 encoded.
  static const std::string* byte_characters();

  int64_t bos_id() const { return bos_; }
  int64_t eos_id() const { return eos_; }
  int64_t pad_id() const { return pad_; }
  int64_t vocab_size() const { return static_cast<int64_t>(encoder_.size()); }

  // Appends tokens (textual inversion) and returns their ids; an existing token keeps its id.
  std::vector<int64_t> add_tokens(const std::vector<std::string>& tokens);
  int64_t token_id(const std::string& token) const;  // -1 if unknown

  ClipTokenizer(const ClipTokenizer& other);
  ClipTokenizer& operator=(const ClipTokenizer& other);
  ClipTokenizer(ClipTokenizer&&) = default;
  ClipTokenizer& operator=(ClipTokenizer&&) = default;

 private:
  ClipTokenizer() = default;
  std::vector<int64_t> tokenize(const std::string& text) const;  // no bos/eos
  void tokenize_segment(const std::string& text, std::vector<int64_t>& out) const;
  std::vector<std::string> bpe(const std::string& word) const;

  std::string source_;
  std::unordered_map<std::string, int64_t> encoder_;
  std::map<std::pair<std::string, std::string>, int64_t> merge_ranks_;
  std::vector<std::string> added_;  // matched before BPE, longest first at each position
  int64_t bos_ = 0, eos_ = 0, pad_ = 0;
  int64_t window_ = kClipWindow;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
  mutable std::unique_ptr<std::mutex> cache_mutex_ = std::make_unique<std::mutex>();
};

}  // namespace prtkl
