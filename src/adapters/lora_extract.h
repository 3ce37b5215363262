// `prtkl model extract-lora`: a LoRA that carries what a fine-tune changed. Each Linear and Conv2d weight's
// difference (tuned − base) is replaced by its best rank-r approximation (truncated SVD, Eckart–Young), as kohya's
// extract_lora_from_models.py does; a k×k convolution is flattened to [out, in·k·k] first and comes back as a k×k
// down and a 1×1 up convolution (LoCon). The changes of biases and norms are small and go into the file whole, as
// ComfyUI's and LyCORIS' `.diff_b` / `.diff` keys (kohya format only); what no LoRA file can carry (the VAE,
// embedding tables) is reported, not silently dropped. Used to ship a look learnt by a full fine-tune as a small,
// switchable adapter.
#pragma once
#include <torch/torch.h>

#include <string>

#include "adapters/lora.h"

namespace prtkl {

// The rank-`rank` pair whose delta() is closest to `delta` in the Frobenius norm (alpha = rank: scale 1). The
// singular values are split evenly between the two factors (√S in each), which keeps both in fp16's range.
// `delta` is [out, in] or [out, in, kh, kw]; a rank above min(out, in·kh·kw) is lowered to it.
LoraPair low_rank_pair(const torch::Tensor& delta, int64_t rank);

struct ExtractLoraOptions {
  std::string base, tuned;  // models of one architecture (folders, single files or models-folder names)
  std::string out;          // .safetensors
  int64_t rank = 16;        // Linear layers and 1×1 convolutions
  int64_t conv_rank = 0;    // k×k convolutions (k > 1); 0: the same as `rank`
  std::string format = "kohya";  // kohya | peft
  bool diffs = true;             // biases and norms as whole differences (kohya only: PEFT has no keys for them)
  std::string config_dir;        // configs for single-file inputs
  torch::Dtype dtype = torch::kFloat16;  // stored dtype of the pairs
};

struct ExtractLoraReport {
  int64_t layers = 0;            // pairs written
  int64_t unchanged = 0;         // targets whose weight did not change (left out)
  double kept = 0;               // share of the targets' summed squared change that the pairs keep
  int64_t diffs = 0;             // biases and norms written whole
  int64_t not_carried = 0;       // changed tensors the file does not carry
  double not_carried_share = 0;  // their share of the whole squared change
  int64_t parameters = 0;        // in the written pairs and differences
};

// Fails (naming the model, component and tensor) when the two models differ in family, config or any tensor's
// shape, or when nothing changed; writes nothing then.
ExtractLoraReport extract_lora(const ExtractLoraOptions& options);

}  // namespace prtkl
