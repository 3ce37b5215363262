// A training sample's inputs, prepared once before the steps: its latent distribution (each in the sample's own
// slot, so shuffling never separates a latent from its caption, crop and flip), its caption tokenized exactly as
// inference does, SDXL's time ids and, when nothing in the text path trains, its prompt embeddings.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "diffusion/model_loader.h"
#include "diffusion/pipeline.h"
#include "train/dataset.h"
#include "train/train_config.h"

namespace prtkl {

struct CachedSample {
  torch::Tensor mean, std;      // [4, h, w], before the scaling factor; undefined unless the latents are cached
  std::string caption;          // with the pivotal tokens
  PromptTokens tokens;          // exactly as inference tokenizes the caption
  PromptEmbeddings embeddings;  // cached only when nothing in the text path trains
  torch::Tensor time_ids;       // SDXL [6]: original size, crop top-left, target size
  torch::Tensor pixels;         // the autoencoder stages, or latents not cached: [3, H, W] in [-1, 1]
  std::vector<int64_t> latent_size;  // [C, h, w] of its latent, cached or not
  std::pair<int64_t, int64_t> bucket;
};

enum class LatentCache { kEncodeNow, kEncodeEachStep };
enum class SampleUse { kUNet, kAutoencoder };  // the autoencoder stages train on pixels and need no text

// The samples' cached inputs. kEncodeNow runs the VAE over runs of same-size images (up to 32 and 2^17 pixels at
// once: small images cost mostly call overhead, large ones activations) and keeps no pixels.
std::vector<CachedSample> cache_samples(StableDiffusionModel& model, const TrainConfig& c,
                                        const std::vector<Sample>& samples, LatentCache latents, SampleUse use);

// Fills each sample's prompt embeddings, 64 prompts of one chunk count per encoder call (one call per sample kept
// the bundled model's 10,624 captions loading for over 20 minutes beside a compiler).
void cache_text_embeddings(const StableDiffusionModel& model, std::vector<CachedSample>& samples);

}  // namespace prtkl
