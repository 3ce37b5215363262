#pragma once
// A training batch's model inputs: the clean latents (sampled from their cached distributions, or encoded now, and
// scaled) and the text conditioning (cached embeddings, or encoded now with a graph when the text path trains),
// with caption dropout and chunk padding done the way inference pads.

#include <torch/torch.h>

#include <vector>

#include "diffusion/model_loader.h"
#include "diffusion/pipeline.h"
#include "train/sample_cache.h"

namespace prtkl {

struct BatchInputs {
  torch::Tensor x0, context, pooled, time_ids;  // x0 undefined: this rank's share of the batch is empty
};

struct BatchInputOptions {
  double latent_scale = 1.0;     // the VAE's scaling factor
  double caption_dropout = 0.0;  // a training step's share of captions replaced by ""; 0 in measurements
  bool text_grad = false;        // the text path trains in this pass: encode the captions with a graph
};

// The inputs of samples [lo, hi) of `batch` (this rank's share in data parallel). Every random number of the whole
// batch is drawn, as one process would (per sample: the latent sample, then caption dropout when it is on), so the
// ranks stay in step. `empty_text` is the empty prompt's cached embeddings (undefined when text is not cached).
BatchInputs batch_inputs(const StableDiffusionModel& model, const PromptEmbeddings& empty_text,
                         const std::vector<const CachedSample*>& batch, at::Generator& g, const BatchInputOptions& o,
                         size_t lo, size_t hi);

// `e` with empty-prompt chunks appended up to `chunks` (what tokenize_prompt's padding encodes to); the pooled
// embedding comes from the first chunk and stays.
PromptEmbeddings pad_with_empty(const PromptEmbeddings& e, const PromptEmbeddings& empty_text, size_t chunks);

}  // namespace prtkl
