#include "diffusion/pipeline.h"

#include <chrono>
#include <sstream>

#include "core/error.h"

namespace prtkl {

namespace {

torch::Tensor ids_tensor(const std::vector<std::vector<int64_t>>& chunks, const torch::Device& device) {
  std::vector<int64_t> flat;
  for (const auto& c : chunks) flat.insert(flat.end(), c.begin(), c.end());
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(chunks.size()), -1}).to(device);
}

// Pads a list of window-sized token chunks with empty-prompt chunks (as A1111 does) so cond and uncond line up.
void pad_chunks(std::vector<std::vector<int64_t>>& chunks, size_t count, const ClipTokenizer& tok) {
  const auto empty = tok.encode_chunks("").front();
  while (chunks.size() < count) chunks.push_back(empty);
}

bool all_finite(const torch::Tensor& t) { return torch::isfinite(t).all().item<bool>(); }

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A1111 quotes a value that contains a comma, colon or newline (json.dumps).
std::string quote_if_needed(const std::string& v) {
  if (v.find_first_of(",:\n") == std::string::npos) return v;
  return Json(v).dump();
}

}  // namespace

int64_t StableDiffusionPipeline::vae_scale_factor() const {
  const auto channels = model_.vae_config.get<std::vector<int64_t>>("block_out_channels");
  return int64_t{1} << (channels.size() - 1);
}

GenerateParams StableDiffusionPipeline::resolve(GenerateParams p) const {
  const int64_t factor = vae_scale_factor();
  const int64_t default_size = model_.unet_config.get<int64_t>("sample_size") * factor;
  if (p.width == 0) p.width = default_size;
  if (p.height == 0) p.height = default_size;
  for (auto [name, v] : {std::pair<const char*, int64_t>{"width", p.width}, {"height", p.height}}) {
    if (v < factor || v % 8 != 0 || v % factor != 0)
      fail(name, " ", v, " must be a positive multiple of ", std::max<int64_t>(8, factor));
    if (v > 8192) fail(name, " ", v, " is larger than 8192");
  }
  if (p.steps < 1 || p.steps > 1000) fail("steps must be between 1 and 1000 (got ", p.steps, ")");
  if (p.num_images < 1 || p.num_images > 64) fail("number of images must be between 1 and 64 (got ", p.num_images, ")");
  if (!(p.guidance_scale >= 0 && p.guidance_scale <= 100)) fail("guidance scale must be in [0, 100] (got ", p.guidance_scale, ")");
  return p;
}

std::string StableDiffusionPipeline::expand_prompt(const std::string& prompt) const {
  std::string out = prompt;
  for (const auto& [trigger, expansion] : model_.prompt_expansions) {
    std::string next;
    for (size_t at = 0;;) {
      const auto hit = out.find(trigger, at);
      next += out.substr(at, hit == std::string::npos ? std::string::npos : hit - at);
      if (hit == std::string::npos) break;
      next += expansion;
      at = hit + trigger.size();
    }
    out = next;
  }
  return out;
}

PromptTokens tokenize_prompt(const StableDiffusionModel& model, const std::string& prompt, size_t min_chunks) {
  PromptTokens t;
  t.one = model.tokenizer->encode_chunks(prompt);
  size_t n = std::max(min_chunks, t.one.size());
  if (model.family == ModelFamily::SDXL) {
    t.two = model.tokenizer_2->encode_chunks(prompt);
    n = std::max(n, t.two.size());
    pad_chunks(t.two, n, *model.tokenizer_2);
  }
  pad_chunks(t.one, n, *model.tokenizer);
  return t;
}

std::vector<PromptEmbeddings> encode_tokens(const StableDiffusionModel& model,
                                            const std::vector<const PromptTokens*>& prompts) {
  if (model.text_encoder.is_empty())
    fail(model.path, ": the text encoders were released after a one-shot generation; load the model again");
  if (prompts.empty()) return {};
  const auto chunks = static_cast<int64_t>(prompts.front()->one.size());
  std::vector<std::vector<int64_t>> one, two;  // every prompt's chunks, one after the other
  for (const auto* p : prompts) {
    if (static_cast<int64_t>(p->one.size()) != chunks)
      fail(model.path, ": prompts encoded together need the same chunk count (", chunks, " and ", p->one.size(), ")");
    one.insert(one.end(), p->one.begin(), p->one.end());
    two.insert(two.end(), p->two.begin(), p->two.end());
  }
  const auto n = static_cast<int64_t>(prompts.size());
  auto encoder = model.text_encoder, encoder_2 = model.text_encoder_2;  // holders: forward is not const
  std::vector<PromptEmbeddings> out(prompts.size());
  if (model.family == ModelFamily::SD15) {
    auto hidden = encoder->forward(ids_tensor(one, model.device)).last_hidden_state;
    hidden = hidden.reshape({n, -1, hidden.size(-1)});  // each prompt's chunks side by side on the token axis
    for (int64_t i = 0; i < n; ++i) out[i].prompt_embeds = hidden.slice(0, i, i + 1);
    return out;
  }
  // SDXL: penultimate hidden states of both encoders side by side; pooled from the second encoder's first chunk.
  auto o1 = encoder->forward(ids_tensor(one, model.device));
  auto o2 = encoder_2->forward(ids_tensor(two, model.device));
  auto h1 = o1.hidden_states[o1.hidden_states.size() - 2];
  auto h2 = o2.hidden_states[o2.hidden_states.size() - 2];
  auto embeds = torch::cat({h1, h2}, -1);
  embeds = embeds.reshape({n, -1, embeds.size(-1)});
  for (int64_t i = 0; i < n; ++i) {
    out[i].prompt_embeds = embeds.slice(0, i, i + 1);
    out[i].pooled_prompt_embeds = o2.text_embeds.slice(0, i * chunks, i * chunks + 1);
  }
  return out;
}

PromptEmbeddings encode_tokens(const StableDiffusionModel& model, const PromptTokens& tokens) {
  return std::move(encode_tokens(model, std::vector<const PromptTokens*>{&tokens}).front());
}

PromptEmbeddings StableDiffusionPipeline::encode_prompt(const std::string& raw_prompt, bool zero) const {
  torch::NoGradGuard no_grad;
  auto out = encode_tokens(model_, tokenize_prompt(model_, expand_prompt(raw_prompt)));
  if (zero) {
    out.prompt_embeds = torch::zeros_like(out.prompt_embeds);
    if (out.pooled_prompt_embeds.defined()) out.pooled_prompt_embeds = torch::zeros_like(out.pooled_prompt_embeds);
  }
  return out;
}

torch::Tensor StableDiffusionPipeline::add_time_ids(int64_t height, int64_t width, int64_t batch) const {
  // (original size, crop top-left, target size): generation uses the full, uncropped target size.
  auto ids = torch::tensor({static_cast<float>(height), static_cast<float>(width), 0.f, 0.f,
                            static_cast<float>(height), static_cast<float>(width)});
  return ids.unsqueeze(0).repeat({batch, 1}).to(model_.device, model_.dtype);
}

torch::Tensor StableDiffusionPipeline::decode_latents(const torch::Tensor& latents,
                                                      std::vector<std::string>* notices) const {
  torch::NoGradGuard no_grad;
  load_component(model_, Component::Vae);
  // One image at a time: the decoder's activations at full resolution are the largest tensors of a run (GiBs per
  // 1024² image), so a batch decoded in one pass multiplies the peak by the batch size.
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < latents.size(0); ++i) {
    const auto z = latents.narrow(0, i, 1) / model_.vae->scaling_factor();
    auto vae_dtype = model_.vae->parameters().front().scalar_type();
    auto image = model_.vae->decode(z.to(vae_dtype));
    // SDXL's stock VAE overflows in fp16: decode again in fp32 (and keep it there), as ComfyUI and diffusers'
    // force_upcast do.
    if (!all_finite(image) && vae_dtype != torch::kFloat32) {
      if (notices) notices->push_back("the VAE overflowed in " + std::string(c10::toString(vae_dtype)) +
                                      "; decoding in float32 from now on");
      model_.vae->to(torch::kFloat32);
      image = model_.vae->decode(z.to(torch::kFloat32));
    }
    if (!all_finite(image))
      fail(model_.name, ": the VAE decoded non-finite values (NaN or inf): its weights or the latents are broken");
    images.push_back(image);
  }
  return torch::cat(images);
}

EncodedPrompts StableDiffusionPipeline::encode_prompts(const GenerateParams& p) const {
  EncodedPrompts out;
  out.cond = encode_prompt(p.prompt);
  if (p.guidance_scale <= 1.0) return out;
  const bool zero = model_.family == ModelFamily::SDXL && model_.force_zeros_for_empty_prompt && !p.has_negative_prompt;
  out.uncond = encode_prompt(p.negative_prompt, zero);
  // Long prompts: the shorter side gets empty-prompt chunks so both have the same token count.
  const auto len_c = out.cond.prompt_embeds.size(1), len_u = out.uncond.prompt_embeds.size(1);
  if (len_c != len_u) {
    auto& shorter = len_c < len_u ? out.cond : out.uncond;
    const auto missing = std::abs(len_c - len_u) / model_.tokenizer->window();
    auto empty = encode_prompt("", zero && &shorter == &out.uncond).prompt_embeds;
    std::vector<torch::Tensor> parts{shorter.prompt_embeds};
    for (int64_t i = 0; i < missing; ++i) parts.push_back(empty);
    shorter.prompt_embeds = torch::cat(parts, 1);
  }
  return out;
}

GenerateResult StableDiffusionPipeline::generate(const GenerateParams& raw, const StepCallback& on_step) const {
  torch::NoGradGuard no_grad;
  const GenerateParams p = resolve(raw);
  GenerateResult result;
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  auto t0 = Clock::now();
  auto scheduler = make_scheduler(p.sampler, model_.scheduler_config);
  const bool cfg = p.guidance_scale > 1.0;
  const int64_t batch = p.num_images;

  // NaN or inf anywhere ends the run with the stage that made it, never as a black or noise PNG.
  auto check_text = [&](const PromptEmbeddings& e) {
    if (!all_finite(e.prompt_embeds) || (e.pooled_prompt_embeds.defined() && !all_finite(e.pooled_prompt_embeds)))
      fail(model_.name, ": the text encoder produced non-finite values (NaN or inf): its weights are broken");
  };
  const auto [cond, uncond] = p.encoded ? *p.encoded : encode_prompts(p);
  if (cfg && (!uncond.prompt_embeds.defined() || uncond.prompt_embeds.size(1) != cond.prompt_embeds.size(1)))
    fail("encoded prompts: with CFG the negative prompt's embeddings must be given, with the prompt's token count");
  check_text(cond);
  if (cfg) check_text(uncond);
  auto expand = [&](const torch::Tensor& t) { return t.defined() ? t.expand({batch, -1, -1}).contiguous() : t; };
  auto expand2 = [&](const torch::Tensor& t) { return t.defined() ? t.expand({batch, -1}).contiguous() : t; };
  torch::Tensor encoder_states = expand(cond.prompt_embeds), pooled = expand2(cond.pooled_prompt_embeds);
  if (cfg) {
    encoder_states = torch::cat({expand(uncond.prompt_embeds), encoder_states});
    if (pooled.defined()) pooled = torch::cat({expand2(uncond.pooled_prompt_embeds), pooled});
  }
  encoder_states = encoder_states.to(model_.dtype);
  if (pooled.defined()) pooled = pooled.to(model_.dtype);
  torch::Tensor time_ids;
  if (model_.family == ModelFamily::SDXL) time_ids = add_time_ids(p.height, p.width, encoder_states.size(0));
  if (p.release_stages) {
    model_.text_encoder = ClipTextModel(nullptr);
    model_.text_encoder_2 = ClipTextModel(nullptr);
  }
  result.encode_seconds = since(t0);
  t0 = Clock::now();
  load_component(model_, Component::UNet);  // loaded late when the model was loaded with it deferred
  result.load_seconds += since(t0);
  t0 = Clock::now();

  scheduler->set_timesteps(p.steps);
  at::Generator gen = at::detail::createCPUGenerator(p.seed);
  const int64_t factor = vae_scale_factor();
  const int64_t channels = model_.unet_config.get<int64_t>("in_channels");
  auto unet = model_.unet;
  torch::Tensor latents;
  if (p.latents.defined()) {
    latents = p.latents.to(torch::kFloat32);
  } else {
    // Drawn on the CPU in float32 whatever the device, so a seed means the same image everywhere.
    latents = torch::randn({batch, channels, p.height / factor, p.width / factor}, gen, torch::kFloat32);
  }
  latents = (latents * scheduler->init_noise_sigma()).to(model_.device);

  const auto timesteps = scheduler->timesteps();
  const int64_t n = timesteps.size(0);
  for (int64_t i = 0; i < n; ++i) {
    auto input = cfg ? torch::cat({latents, latents}) : latents;
    input = scheduler->scale_model_input(input, i).to(model_.dtype);
    auto t = timesteps[i].to(model_.device);
    auto noise = unet->forward(input, t, encoder_states, pooled, time_ids).to(torch::kFloat32);
    if (!all_finite(noise))
      fail(model_.name, ": the UNet produced non-finite values (NaN or inf) at step ", i + 1, " of ", n,
           model_.dtype == torch::kFloat32 ? ": its weights are broken" : ": its weights are broken or overflow; try --dtype fp32");
    if (cfg) {
      auto parts = noise.chunk(2);
      noise = parts[0] + p.guidance_scale * (parts[1] - parts[0]);
    }
    latents = scheduler->step(noise, i, latents, gen).prev_sample;
    if (on_step) on_step(StepEvent{i + 1, n, latents});
  }
  if (p.release_stages) {
    unet = nullptr;
    release_component(model_, Component::UNet);
  }
  result.denoise_seconds = since(t0);
  t0 = Clock::now();
  load_component(model_, Component::Vae);
  result.load_seconds += since(t0);
  t0 = Clock::now();
  result.latents = latents;
  result.images = (decode_latents(latents, &result.notices).to(torch::kFloat32) / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 1}).cpu();
  result.decode_seconds = since(t0);
  result.sampler_display_name = scheduler->display_name();
  return result;
}

std::string a1111_parameters(const GenerateParams& p, const std::string& sampler, const std::string& model_name) {
  std::ostringstream os;
  os << p.prompt << "\n";
  if (!p.negative_prompt.empty()) os << "Negative prompt: " << p.negative_prompt << "\n";
  os << "Steps: " << p.steps << ", Sampler: " << quote_if_needed(sampler)
     << ", CFG scale: " << format_number(p.guidance_scale) << ", Seed: " << p.seed << ", Size: " << p.width << "x"
     << p.height << ", Model: " << quote_if_needed(model_name) << ", Version: prtkl";
  return os.str();
}

std::vector<Image> to_images(const torch::Tensor& images) {
  const auto pixels = (images * 255).round().clamp(0, 255).to(torch::kCPU, torch::kUInt8).contiguous();
  std::vector<Image> out;
  for (int64_t i = 0; i < pixels.size(0); ++i) {
    Image img;
    img.height = static_cast<int>(pixels.size(1));
    img.width = static_cast<int>(pixels.size(2));
    img.channels = 3;
    const auto* data = pixels[i].data_ptr<uint8_t>();
    img.pixels.assign(data, data + pixels[i].numel());
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace prtkl
