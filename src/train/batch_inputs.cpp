#include "train/batch_inputs.h"

#include <algorithm>

namespace prtkl {

namespace {

PromptEmbeddings encode(const StableDiffusionModel& model, const CachedSample& s, bool grad) {
  if (s.embeddings.prompt_embeds.defined() && !grad) return s.embeddings;
  std::optional<torch::NoGradGuard> no_grad;
  if (!grad) no_grad.emplace();
  return encode_tokens(model, s.tokens);
}

}  // namespace

PromptEmbeddings pad_with_empty(const PromptEmbeddings& e, const PromptEmbeddings& empty_text, size_t chunks) {
  const int64_t window = empty_text.prompt_embeds.size(1);
  std::vector<torch::Tensor> parts{e.prompt_embeds};
  for (int64_t n = e.prompt_embeds.size(1) / window; n < static_cast<int64_t>(chunks); ++n)
    parts.push_back(empty_text.prompt_embeds);
  return {torch::cat(parts, 1), e.pooled_prompt_embeds};
}

BatchInputs batch_inputs(const StableDiffusionModel& model, const PromptEmbeddings& empty_text,
                         const std::vector<const CachedSample*>& batch, at::Generator& g, const BatchInputOptions& o,
                         size_t lo, size_t hi) {
  const auto dev = model.device;
  std::vector<torch::Tensor> latents, contexts, pooled, time_ids;
  std::vector<CachedSample> inputs;  // each sample's text input, padded to the batch's chunk count
  size_t chunks = 0;
  for (const auto* s : batch) chunks = std::max(chunks, s->tokens.one.size());
  // Latent distributions: cached, or encoded now (this rank's share only).
  std::vector<torch::Tensor> means(batch.size()), stds(batch.size());
  const bool cached = !batch.empty() && batch[0]->mean.defined();
  if (cached) {
    for (size_t i = 0; i < batch.size(); ++i) means[i] = batch[i]->mean, stds[i] = batch[i]->std;
  } else if (lo < hi) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> px;
    for (size_t i = lo; i < hi; ++i) px.push_back(batch[i]->pixels);
    auto vae = model.vae;  // the holder: forward is not const
    const auto dist = vae->encode(torch::stack(px).to(dev, torch::kFloat32));
    for (size_t i = lo; i < hi; ++i) {
      means[i] = dist.mean[i - lo].to(torch::kFloat32);
      stds[i] = dist.std[i - lo].to(torch::kFloat32);
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto* s = batch[i];
    auto noise = torch::randn(s->latent_size, g, torch::kFloat32).to(dev);
    const bool mine = i >= lo && i < hi;
    if (mine) latents.push_back((means[i] + stds[i] * noise) * o.latent_scale);
    CachedSample padded = *s;
    // Caption dropout: the empty prompt, so the model also learns the unconditional prediction that
    // classifier-free guidance subtracts.
    const bool drop = o.caption_dropout > 0 && torch::rand({1}, g).item<double>() < o.caption_dropout;
    if (!mine) continue;
    if (drop) padded.caption.clear();
    if (drop || s->tokens.one.size() < chunks) {  // captions with different chunk counts: pad as inference
      if (empty_text.prompt_embeds.defined()) {   // from the cache: the encoders run each chunk on its own
        padded.embeddings = pad_with_empty(drop ? empty_text : s->embeddings, empty_text, chunks);
      } else {
        padded.tokens = tokenize_prompt(model, padded.caption, chunks);
        padded.embeddings = {};
      }
    }
    inputs.push_back(std::move(padded));
    if (s->time_ids.defined()) time_ids.push_back(s->time_ids.unsqueeze(0));
  }
  if (latents.empty()) return {};
  if (o.text_grad && model.family == ModelFamily::SD15) {
    // A training text encoder runs once over the whole batch (every sample's chunks as rows), not per sample.
    PromptTokens all;
    for (const auto& in : inputs) all.one.insert(all.one.end(), in.tokens.one.begin(), in.tokens.one.end());
    const auto e = encode_tokens(model, all).prompt_embeds;  // [1, B·window·chunks, D]
    contexts.push_back(e.reshape({static_cast<int64_t>(inputs.size()), -1, e.size(-1)}));
  } else {
    for (const auto& in : inputs) {
      const auto e = encode(model, in, o.text_grad);
      contexts.push_back(e.prompt_embeds);
      if (e.pooled_prompt_embeds.defined()) pooled.push_back(e.pooled_prompt_embeds);
    }
  }
  BatchInputs out;
  out.x0 = torch::stack(latents);
  out.context = torch::cat(contexts).to(model.dtype);
  if (!pooled.empty()) out.pooled = torch::cat(pooled).to(model.dtype);
  if (!time_ids.empty()) out.time_ids = torch::cat(time_ids).to(dev, model.dtype);
  return out;
}

}  // namespace prtkl
