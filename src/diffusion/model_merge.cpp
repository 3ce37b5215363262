#include "diffusion/model_merge.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "core/safetensors.h"
#include "diffusion/convert.h"
#include "diffusion/model_loader.h"
#include "diffusion/model_parts.h"
#include "diffusion/model_save.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {
// Config fields that say what the weights mean; "_class_name", "_diffusers_version" and the like do not.
// Missing and null are the same (diffusers' from_config reads both as the default).
void expect_same_config(const Config& a, const Config& b, const std::string& what, const std::string& who) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a.json().items()) keys.insert(k);
  for (const auto& [k, v] : b.json().items()) keys.insert(k);
  for (const auto& k : keys) {
    if (!k.empty() && k[0] == '_') continue;
    const Json va = a.has(k) ? a.json().at(k) : Json(), vb = b.has(k) ? b.json().at(k) : Json();
    if (va != vb)
      fail(who, ": the ", what, " configs differ in '", k, "' (", va.dump(), " in ", a.source(), ", ", vb.dump(),
           " in ", b.source(), ")");
  }
}


std::vector<double> checked_weights(const MergeOptions& o) {
  if (o.models.size() < 2) fail("merge: give at least two models (got ", o.models.size(), ")");
  if (o.weights.empty()) return std::vector<double>(o.models.size(), 1.0 / double(o.models.size()));
  if (o.weights.size() != o.models.size())
    fail("merge: ", o.weights.size(), " weights for ", o.models.size(), " models (give one per model)");
  double sum = 0;
  for (double w : o.weights) {
    if (!std::isfinite(w)) fail("merge: weight ", w, " is not a finite number");
    sum += w;
  }
  // Weights that do not sum to 1 scale every tensor, norms and biases included: that is not a merge.
  if (std::abs(sum - 1.0) > 1e-6) fail("merge: the weights sum to ", sum, ", not 1");
  return o.weights;
}

// The first model's parameters, scaled by its weight: the sum accumulates in them.
void scale_into(StableDiffusionModel& sum, double weight) {
  for (const auto& part : loaded_parts(sum))
    for (auto& p : part.module->parameters(true)) p.mul_(weight);
}

void add_into(StableDiffusionModel& sum, StableDiffusionModel& other, double weight) {
  for_each_parameter_pair(sum, other, "merge",
                          [&](const std::string&, const std::string&, torch::Tensor& mine, const torch::Tensor& theirs) {
                            mine.add_(theirs, weight);
                          });
}

// The dtype most of the model's UNet tensors are stored in (from the file headers).
torch::Dtype stored_unet_dtype(const std::string& path) {
  for (const auto& c : inspect_model(path).components) {
    if (c.name != "unet" || c.dtypes.empty()) continue;
    auto most = std::max_element(c.dtypes.begin(), c.dtypes.end(),
                                 [](const auto& x, const auto& y) { return x.second < y.second; });
    return dtype_from_safetensors(most->first, path);
  }
  return torch::kFloat32;
}

}  // namespace

void expect_same_architecture(const StableDiffusionModel& a, const StableDiffusionModel& b, const std::string& who) {
  if (b.family != a.family)
    fail(who, ": ", b.path, " is ", family_name(b.family), ", ", a.path, " is ", family_name(a.family));
  expect_same_config(a.unet_config, b.unet_config, "UNet", who);
  expect_same_config(a.vae_config, b.vae_config, "VAE", who);
}

void for_each_parameter_pair(const StableDiffusionModel& a, const StableDiffusionModel& b, const std::string& who,
                             const ParameterPairFn& f) {
  expect_same_architecture(a, b, who);
  const auto ours = loaded_parts(a), theirs = loaded_parts(b);  // the same parts: one family, all loaded
  for (size_t i = 0; i < ours.size(); ++i) {
    auto mine = ours[i].module->named_parameters(true);
    const auto other = theirs[i].module->named_parameters(true);
    for (const auto& q : other)
      if (!mine.contains(q.key()))
        fail(who, ": ", b.path, ": ", ours[i].name, " tensor ", q.key(), " is not in ", a.path);
    for (auto& p : mine) {
      const torch::Tensor* q = other.find(p.key());
      if (!q) fail(who, ": ", b.path, ": ", ours[i].name, " has no tensor ", p.key());
      if (q->sizes() != p.value().sizes())
        fail(who, ": ", b.path, ": ", ours[i].name, " tensor ", p.key(), " has shape ", q->sizes(), ", ", a.path,
             " has ", p.value().sizes());
      f(ours[i].name, p.key(), p.value(), *q);
    }
  }
}

void merge_models(const MergeOptions& o) {
  const std::vector<double> weights = checked_weights(o);
  require_new_output("merge", o.out);

  torch::NoGradGuard no_grad;
  LoadOptions load;  // fp32 on the CPU: sums of fp16 weights would round at every step
  load.config_dir = o.config_dir;
  auto sum = load_model(o.models[0], load);
  const bool single_file = fs::path(o.out).extension() == ".safetensors";
  std::string config_root = o.config_dir;
  if (!single_file && config_root.empty()) {
    if (sum.format != "diffusers")
      fail("merge: writing a diffusers folder needs --config (a folder with configs and tokenizers): ", sum.path,
           " is a single file");
    config_root = sum.path;
  }
  std::cerr << "merge: " << sum.path << " x " << weights[0] << "\n";
  scale_into(sum, weights[0]);
  for (size_t i = 1; i < o.models.size(); ++i) {
    auto other = load_model(o.models[i], load);
    std::cerr << "merge: " << other.path << " x " << weights[i] << "\n";
    add_into(sum, other, weights[i]);
  }
  const torch::Dtype dtype = o.dtype ? *o.dtype : stored_unet_dtype(sum.path);
  if (single_file) {
    save_single_file(sum, o.out, dtype);
  } else {
    SaveModelOptions save;
    save.dtype = dtype;
    save.config_root = config_root;
    save_diffusers_model(sum, o.out, save);
  }
}

}  // namespace prtkl
