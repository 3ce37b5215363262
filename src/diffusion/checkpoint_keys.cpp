#include "diffusion/checkpoint_keys.h"

#include <regex>

#include "core/error.h"

namespace prtkl {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Replaces `from` at the start of `s` with `to`; returns false if `s` does not start with `from`.
bool swap_prefix(std::string& s, const std::string& from, const std::string& to) {
  if (!starts_with(s, from)) return false;
  s = to + s.substr(from.size());
  return true;
}

// diffusers ResnetBlock2D names -> LDM ResBlock names (UNet).
std::string unet_resnet_part(const std::string& rest) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"norm1.", "in_layers.0."},      {"conv1.", "in_layers.2."},       {"norm2.", "out_layers.0."},
      {"conv2.", "out_layers.3."},     {"time_emb_proj.", "emb_layers.1."}, {"conv_shortcut.", "skip_connection."},
  };
  for (const auto& [from, to] : kMap) {
    std::string r = rest;
    if (swap_prefix(r, from, to)) return r;
  }
  fail("unet key '", rest, "': unknown resnet parameter");
}

// diffusers ResnetBlock2D names -> LDM VAE ResnetBlock names (only the shortcut differs).
std::string vae_resnet_part(std::string rest) {
  swap_prefix(rest, "conv_shortcut.", "nin_shortcut.");
  return rest;
}

}  // namespace

OriginalKey unet_original_key(const std::string& key, const Config& cfg) {
  if (auto original = find_unet_original_key(key, cfg)) return *original;
  fail("unet key '", key, "' has no single-file equivalent");
}

std::optional<OriginalKey> find_unet_original_key(const std::string& key, const Config& cfg) {
  const int64_t L = cfg.get<int64_t>("layers_per_block");
  const auto up_types = cfg.get<std::vector<std::string>>("up_block_types");
  std::smatch m;
  std::string k = key;
  static const std::pair<const char*, const char*> kFlat[] = {
      {"conv_in.", "input_blocks.0.0."},          {"time_embedding.linear_1.", "time_embed.0."},
      {"time_embedding.linear_2.", "time_embed.2."}, {"add_embedding.linear_1.", "label_emb.0.0."},
      {"add_embedding.linear_2.", "label_emb.0.2."}, {"conv_norm_out.", "out.0."},
      {"conv_out.", "out.2."},
  };
  for (const auto& [from, to] : kFlat)
    if (swap_prefix(k, from, to)) return OriginalKey{k};

  static const std::regex down_res(R"(down_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex down_attn(R"(down_blocks\.(\d+)\.attentions\.(\d+)\.(.*))");
  static const std::regex down_sample(R"(down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*))");
  static const std::regex mid_res(R"(mid_block\.resnets\.(\d+)\.(.*))");
  static const std::regex mid_attn(R"(mid_block\.attentions\.0\.(.*))");
  static const std::regex up_res(R"(up_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex up_attn(R"(up_blocks\.(\d+)\.attentions\.(\d+)\.(.*))");
  static const std::regex up_sample(R"(up_blocks\.(\d+)\.upsamplers\.0\.(.*))");
  auto n = [&](int i) { return std::stoll(m[i].str()); };
  auto s = [](int64_t v) { return std::to_string(v); };
  if (std::regex_match(key, m, down_res))
    return OriginalKey{"input_blocks." + s(n(1) * (L + 1) + n(2) + 1) + ".0." + unet_resnet_part(m[3])};
  if (std::regex_match(key, m, down_attn))
    return OriginalKey{"input_blocks." + s(n(1) * (L + 1) + n(2) + 1) + ".1." + m[3].str()};
  if (std::regex_match(key, m, down_sample))
    return OriginalKey{"input_blocks." + s(n(1) * (L + 1) + L + 1) + ".0.op." + m[2].str()};
  if (std::regex_match(key, m, mid_res))
    return OriginalKey{"middle_block." + s(2 * n(1)) + "." + unet_resnet_part(m[2])};
  if (std::regex_match(key, m, mid_attn)) return OriginalKey{"middle_block.1." + m[1].str()};
  // Up blocks have layers_per_block + 1 resnets.
  if (std::regex_match(key, m, up_res))
    return OriginalKey{"output_blocks." + s(n(1) * (L + 1) + n(2)) + ".0." + unet_resnet_part(m[3])};
  if (std::regex_match(key, m, up_attn))
    return OriginalKey{"output_blocks." + s(n(1) * (L + 1) + n(2)) + ".1." + m[3].str()};
  if (std::regex_match(key, m, up_sample)) {
    const auto i = n(1);
    if (i >= static_cast<int64_t>(up_types.size())) fail("unet key '", key, "': no such up block");
    const bool has_attn = up_types[i].find("CrossAttn") != std::string::npos;
    return OriginalKey{"output_blocks." + s(i * (L + 1) + L) + (has_attn ? ".2." : ".1.") + m[2].str()};
  }
  return std::nullopt;
}

OriginalKey vae_original_key(const std::string& key, const Config& cfg) {
  const auto levels = static_cast<int64_t>(cfg.get<std::vector<int64_t>>("block_out_channels").size());
  std::smatch m;
  static const std::regex enc_res(R"(encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex enc_down(R"(encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*))");
  static const std::regex dec_res(R"(decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*))");
  static const std::regex dec_up(R"(decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*))");
  static const std::regex mid_res(R"((encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*))");
  static const std::regex mid_attn(R"((encoder|decoder)\.mid_block\.attentions\.0\.(.*))");
  auto n = [&](int i) { return std::stoll(m[i].str()); };
  auto s = [](int64_t v) { return std::to_string(v); };
  if (std::regex_match(key, m, enc_res))
    return {"encoder.down." + m[1].str() + ".block." + m[2].str() + "." + vae_resnet_part(m[3])};
  if (std::regex_match(key, m, enc_down)) return {"encoder.down." + m[1].str() + ".downsample." + m[2].str()};
  // The decoder's up blocks are stored in reverse order.
  if (std::regex_match(key, m, dec_res))
    return {"decoder.up." + s(levels - 1 - n(1)) + ".block." + m[2].str() + "." + vae_resnet_part(m[3])};
  if (std::regex_match(key, m, dec_up)) return {"decoder.up." + s(levels - 1 - n(1)) + ".upsample." + m[2].str()};
  if (std::regex_match(key, m, mid_res))
    return {m[1].str() + ".mid.block_" + s(n(2) + 1) + "." + vae_resnet_part(m[3])};
  if (std::regex_match(key, m, mid_attn)) {
    std::string rest = m[2].str();
    static const std::pair<const char*, const char*> kAttn[] = {
        {"group_norm.", "norm."}, {"to_q.", "q."}, {"to_k.", "k."}, {"to_v.", "v."}, {"to_out.0.", "proj_out."}};
    for (const auto& [from, to] : kAttn) {
      if (swap_prefix(rest, from, to)) {
        const bool is_linear_weight = std::string(from) != "group_norm." && rest.size() > 6 &&
                                      rest.compare(rest.size() - 6, 6, "weight") == 0;
        return {m[1].str() + ".mid.attn_1." + rest, is_linear_weight ? KeyTransform::Conv1x1 : KeyTransform::None};
      }
    }
    fail("vae key '", key, "': unknown attention parameter");
  }
  std::string k = key;
  if (swap_prefix(k, "encoder.conv_norm_out.", "encoder.norm_out.") ||
      swap_prefix(k, "decoder.conv_norm_out.", "decoder.norm_out."))
    return {k};
  return {key};  // conv_in, conv_out, quant_conv, post_quant_conv keep their names
}

OriginalKey open_clip_original_key(const std::string& key) {
  std::smatch m;
  static const std::regex layer(R"(text_model\.encoder\.layers\.(\d+)\.(.*))");
  if (std::regex_match(key, m, layer)) {
    const std::string base = "transformer.resblocks." + m[1].str() + ".";
    std::string rest = m[2].str();
    static const std::pair<const char*, KeyTransform> kQkv[] = {
        {"self_attn.q_proj.", KeyTransform::QChunk},
        {"self_attn.k_proj.", KeyTransform::KChunk},
        {"self_attn.v_proj.", KeyTransform::VChunk}};
    for (const auto& [from, transform] : kQkv)
      if (swap_prefix(rest, from, "attn.in_proj_")) return {base + rest, transform};
    static const std::pair<const char*, const char*> kMap[] = {{"self_attn.out_proj.", "attn.out_proj."},
                                                                {"layer_norm1.", "ln_1."},
                                                                {"layer_norm2.", "ln_2."},
                                                                {"mlp.fc1.", "mlp.c_fc."},
                                                                {"mlp.fc2.", "mlp.c_proj."}};
    for (const auto& [from, to] : kMap)
      if (swap_prefix(rest, from, to)) return {base + rest};
    fail("text_encoder_2 key '", key, "' has no OpenCLIP equivalent");
  }
  if (key == "text_model.embeddings.token_embedding.weight") return {"token_embedding.weight"};
  if (key == "text_model.embeddings.position_embedding.weight") return {"positional_embedding"};
  if (key == "text_projection.weight") return {"text_projection", KeyTransform::Transpose};
  std::string k = key;
  if (swap_prefix(k, "text_model.final_layer_norm.", "ln_final.")) return {k};
  fail("text_encoder_2 key '", key, "' has no OpenCLIP equivalent");
}

torch::Tensor from_original(const torch::Tensor& stored, KeyTransform transform) {
  switch (transform) {
    case KeyTransform::None: return stored;
    case KeyTransform::QChunk: return stored.chunk(3, 0)[0];
    case KeyTransform::KChunk: return stored.chunk(3, 0)[1];
    case KeyTransform::VChunk: return stored.chunk(3, 0)[2];
    case KeyTransform::Transpose: return stored.t();
    case KeyTransform::Conv1x1: return stored.dim() == 4 ? stored.flatten(1) : stored;
  }
  return stored;
}

torch::Tensor to_original(const torch::Tensor& tensor, KeyTransform transform) {
  switch (transform) {
    case KeyTransform::Transpose: return tensor.t().contiguous();
    case KeyTransform::Conv1x1: return tensor.reshape({tensor.size(0), tensor.size(1), 1, 1});
    default: return tensor;
  }
}

}  // namespace prtkl
