#include "train/sample_cache.h"

#include <algorithm>
#include <map>

namespace prtkl {

namespace {

CachedSample cache_one(StableDiffusionModel& m, const TrainConfig& c, const Sample& sample,
                       const LatentDistribution& dist, int64_t row, LatentCache latents, SampleUse use) {
  torch::NoGradGuard no_grad;
  CachedSample cs;
  cs.bucket = {sample.pixels.size(1), sample.pixels.size(2)};
  if (latents == LatentCache::kEncodeEachStep || use == SampleUse::kAutoencoder) cs.pixels = sample.pixels;
  if (use == SampleUse::kAutoencoder) return cs;
  const int64_t f = StableDiffusionPipeline(m).vae_scale_factor();
  cs.latent_size = {m.vae_config.get<int64_t>("latent_channels"), cs.bucket.first / f, cs.bucket.second / f};
  if (latents == LatentCache::kEncodeNow) {
    cs.mean = dist.mean[row].to(torch::kFloat32);
    cs.std = dist.std[row].to(torch::kFloat32);
  }
  cs.caption = c.expand_abstraction(sample.caption);
  cs.tokens = tokenize_prompt(m, cs.caption);
  if (m.family == ModelFamily::SDXL)
    cs.time_ids = torch::tensor({float(sample.original_h), float(sample.original_w), float(sample.crop_top),
                                 float(sample.crop_left), float(cs.bucket.first), float(cs.bucket.second)});
  return cs;
}

}  // namespace

std::vector<CachedSample> cache_samples(StableDiffusionModel& m, const TrainConfig& c,
                                        const std::vector<Sample>& samples, LatentCache latents, SampleUse use) {
  const bool encode_now = latents == LatentCache::kEncodeNow && use == SampleUse::kUNet;
  std::vector<CachedSample> out;
  for (size_t i = 0; i < samples.size();) {
    const int64_t pixels = samples[i].pixels.size(-1) * samples[i].pixels.size(-2);
    const size_t run = static_cast<size_t>(std::clamp<int64_t>((int64_t(1) << 17) / pixels, 1, 32));
    size_t j = i + 1;
    while (j < samples.size() && j - i < run && samples[j].pixels.sizes() == samples[i].pixels.sizes()) ++j;
    LatentDistribution dist;
    if (encode_now) {
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> px;
      for (size_t k = i; k < j; ++k) px.push_back(samples[k].pixels);
      auto vae = m.vae;  // the holder: forward is not const
      dist = vae->encode(torch::stack(px).to(m.device, torch::kFloat32));
    }
    for (size_t k = i; k < j; ++k)
      out.push_back(cache_one(m, c, samples[k], dist, static_cast<int64_t>(k - i), latents, use));
    i = j;
  }
  return out;
}

void cache_text_embeddings(const StableDiffusionModel& m, std::vector<CachedSample>& samples) {
  torch::NoGradGuard no_grad;
  std::map<size_t, std::vector<CachedSample*>> by_chunks;
  for (auto& cs : samples) by_chunks[cs.tokens.one.size()].push_back(&cs);
  for (auto& [chunks, group] : by_chunks)
    for (size_t i = 0; i < group.size(); i += 64) {
      const size_t end = std::min(group.size(), i + 64);
      std::vector<const PromptTokens*> tokens;
      for (size_t k = i; k < end; ++k) tokens.push_back(&group[k]->tokens);
      auto embeddings = encode_tokens(m, tokens);
      for (size_t k = i; k < end; ++k) group[k]->embeddings = std::move(embeddings[k - i]);
    }
}

}  // namespace prtkl
