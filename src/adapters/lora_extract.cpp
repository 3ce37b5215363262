#include "adapters/lora_extract.h"

#include <algorithm>
#include <filesystem>

#include "adapters/lora_apply.h"
#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/model_merge.h"

namespace prtkl {

namespace fs = std::filesystem;

LoraPair low_rank_pair(const torch::Tensor& delta, int64_t rank) {
  if (delta.dim() != 2 && delta.dim() != 4) fail("extract-lora: a ", delta.dim(), "-d weight is no Linear or Conv2d");
  if (rank < 1) fail("extract-lora: rank ", rank, " (give at least 1)");
  const auto m = delta.to(torch::kFloat32).flatten(1);  // [out, in·kh·kw]
  const int64_t r = std::min({rank, m.size(0), m.size(1)});
  auto [u, s, vh] = torch::linalg_svd(m, /*full_matrices=*/false);
  const auto root = s.slice(0, 0, r).sqrt();
  auto up = u.slice(1, 0, r) * root.unsqueeze(0);     // [out, r]
  auto down = vh.slice(0, 0, r) * root.unsqueeze(1);  // [r, in·kh·kw]
  if (delta.dim() == 4) {
    down = down.reshape({r, delta.size(1), delta.size(2), delta.size(3)});
    up = up.reshape({delta.size(0), r, 1, 1});
  }
  return LoraPair{down.contiguous(), up.contiguous(), static_cast<double>(r)};
}

ExtractLoraReport extract_lora(const ExtractLoraOptions& o) {
  if (o.rank < 1) fail("extract-lora: --rank must be at least 1 (got ", o.rank, ")");
  if (o.conv_rank < 0) fail("extract-lora: --conv-rank must be 0 (same as --rank) or more (got ", o.conv_rank, ")");
  if (o.format != "kohya" && o.format != "peft") fail("extract-lora: --format must be kohya or peft (got '", o.format, "')");
  if (fs::path(o.out).extension() != ".safetensors") fail("extract-lora: the output must be a .safetensors file: ", o.out);
  require_new_output("extract-lora", o.out);

  torch::NoGradGuard no_grad;
  LoadOptions load;  // fp32: the differences of fp16 weights are themselves small
  load.config_dir = o.config_dir;
  auto base = load_model(o.base, load);
  auto tuned = load_model(o.tuned, load);
  const LoraNameIndex targets = lora_name_index(base);  // what a LoRA file can name: UNet and text encoders
  const bool with_diffs = o.diffs && o.format == "kohya";

  ExtractLoraReport report;
  std::map<std::string, LoraPair> pairs;
  std::map<std::string, torch::Tensor> diffs;
  double target_sq = 0, kept_sq = 0, total_sq = 0, other_sq = 0;
  for_each_parameter_pair(base, tuned, "extract-lora", [&](const std::string& part, const std::string& name,
                                                           torch::Tensor& mine, const torch::Tensor& theirs) {
    const auto delta = theirs.to(torch::kFloat32) - mine.to(torch::kFloat32);
    const double sq = delta.square().sum().item<double>();
    const auto dot = name.rfind('.');
    const std::string module = part + "." + name.substr(0, dot);
    const std::string kind = name.substr(dot + 1);
    const bool target = kind == "weight" && targets.contains(module);
    if (sq == 0) {
      if (target) ++report.unchanged;
      return;
    }
    total_sq += sq;
    if (!target && with_diffs && targets.knows(module) && (kind == "weight" || kind == "bias")) {
      diffs[part + "." + name] = delta.to(o.dtype);
      report.parameters += delta.numel();
      return;
    }
    if (!target) {
      ++report.not_carried;
      other_sq += sq;
      return;
    }
    const bool spatial = delta.dim() == 4 && (delta.size(2) > 1 || delta.size(3) > 1);
    auto pair = low_rank_pair(delta, spatial && o.conv_rank > 0 ? o.conv_rank : o.rank);
    target_sq += sq;
    kept_sq += sq - (pair.delta() - delta).square().sum().item<double>();
    pair.down = pair.down.to(o.dtype);
    pair.up = pair.up.to(o.dtype);
    report.parameters += pair.down.numel() + pair.up.numel();
    pairs[module] = std::move(pair);
  });
  if (pairs.empty())
    fail("extract-lora: no Linear or Conv2d weight of the UNet or text encoders differs between ", base.path, " and ",
         tuned.path);
  report.layers = static_cast<int64_t>(pairs.size());
  report.diffs = static_cast<int64_t>(diffs.size());
  report.kept = kept_sq / target_sq;
  report.not_carried_share = other_sq / total_sq;

  const std::string rank = std::to_string(o.rank), conv = std::to_string(o.conv_rank > 0 ? o.conv_rank : o.rank);
  const Metadata meta{{"prtkl.base_model", o.base},
                      {"prtkl.extracted_from", o.tuned},
                      {"prtkl.rank", rank},
                      {"prtkl.conv_rank", conv},
                      {"ss_network_module", "networks.lora"},
                      {"ss_network_dim", rank},
                      {"ss_network_alpha", rank},
                      {"ss_network_args", "{\"conv_dim\": \"" + conv + "\", \"conv_alpha\": \"" + conv + "\"}"},
                      {"ss_base_model_version", base.family == ModelFamily::SDXL ? "sdxl_base_v1-0" : "sd_v1"}};
  if (o.format == "kohya")
    write_lora_kohya(o.out, pairs, meta, diffs);
  else
    write_lora_peft(o.out, pairs, meta);
  return report;
}

}  // namespace prtkl
