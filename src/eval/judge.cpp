#include "eval/judge.h"

#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace prtkl {

namespace F = torch::nn::functional;
namespace nn = torch::nn;

namespace {

// Bumped whenever the network changes, so a judge saved by an older build is retrained instead of misread.
const char* const kFormat = "prtkl-judge-2";

// Kaiming-normal convolutions, a small head and zero biases, drawn from the judge's own generator.
void init_weights(JudgeNet& net, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    auto& p = item.value();
    if (p.dim() > 1) {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      p.normal_(0.0, std::sqrt((p.dim() == 4 ? 2.0 : 0.1) / fan_in), gen);
    } else if (item.key().size() >= 4 && item.key().compare(item.key().size() - 4, 4, "bias") == 0) {
      p.zero_();
    }
  }
}

torch::Tensor uniform(int64_t n, double lo, double hi, at::Generator& gen, const torch::TensorOptions& options) {
  return torch::rand({n}, gen, options) * (hi - lo) + lo;
}

}  // namespace

JudgeNetImpl::JudgeNetImpl(int64_t classes, const std::vector<int64_t>& widths) {
  if (classes < 1 || widths.empty()) fail("judge: needs at least one class and one stage");
  // One stride-2 convolution a stage (64 -> 4 px in four): a second one per stage tripled the training time for
  // 97 -> 100 % on the held-out emoji pictures.
  nn::Sequential seq;
  int64_t in = 3;
  for (const auto out : widths) {
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
    seq->push_back(nn::GroupNorm(nn::GroupNormOptions(std::gcd<int64_t>(out, 8), out)));
    seq->push_back(nn::SiLU());
    in = out;
  }
  features = register_module("features", seq);
  head = register_module("head", nn::Linear(in, classes));
}

torch::Tensor JudgeNetImpl::forward(torch::Tensor x) { return head(features->forward(x * 2 - 1).mean({2, 3})); }

torch::Tensor image_tensor(const Image& image) {
  const int64_t h = image.height, w = image.width, c = image.channels;
  if (c < 1 || c > 4 || image.pixels.size() != static_cast<size_t>(h * w * c))
    fail("image_tensor: expected a gray, gray + alpha, RGB or RGBA image of ", w, "x", h);
  auto t = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {h, w, c}, torch::kUInt8)
               .permute({2, 0, 1})
               .to(torch::kFloat32) /
           255.0;
  if (c == 2 || c == 4) t = t.slice(0, 0, c - 1) * t.slice(0, c - 1, c) + (1 - t.slice(0, c - 1, c));  // on white
  return t.expand({3, h, w}).contiguous();
}

torch::Tensor judge_input(const torch::Tensor& images) {
  if (images.size(2) == kJudgeSize && images.size(3) == kJudgeSize) return images;
  const bool shrink = images.size(2) > kJudgeSize || images.size(3) > kJudgeSize;
  return F::interpolate(images, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{kJudgeSize, kJudgeSize})
                                    .mode(torch::kBilinear)
                                    .align_corners(false)
                                    .antialias(shrink));
}

torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma) {
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const double max_sigma = sigma.max().item<double>();
  const int64_t r = std::min<int64_t>(static_cast<int64_t>(std::ceil(3 * max_sigma)), std::min(h, w) / 2);
  if (r < 1) return images;
  // One separable kernel per image, applied to all its channels as a grouped convolution.
  const auto x = torch::arange(-r, r + 1, images.options());
  const auto s = sigma.to(images.options()).clamp_min(1e-3).view({b, 1});
  auto k = torch::exp(-x.view({1, -1}).pow(2) / (2 * s * s));
  k = (k / k.sum(1, true)).repeat_interleave(c, 0);  // [b·c, 2r+1]
  auto out = F::pad(images.reshape({1, b * c, h, w}), F::PadFuncOptions({r, r, r, r}).mode(torch::kReplicate));
  out = F::conv2d(out, k.view({b * c, 1, 1, -1}), F::Conv2dFuncOptions().groups(b * c));
  out = F::conv2d(out, k.view({b * c, 1, -1, 1}), F::Conv2dFuncOptions().groups(b * c));
  return out.view({b, c, h, w});
}

torch::Tensor augment(const torch::Tensor& images, at::Generator& gen) {
  const int64_t b = images.size(0);
  const auto o = images.options();
  // Geometry: shift ±6 px, scale 0.8–1.15, rotation ±10°, mirror. Sampling (x - 1) with zero padding fills what
  // moves in from outside with white, the background of every picture.
  const auto scale = uniform(b, 0.8, 1.15, gen, o), angle = uniform(b, -10, 10, gen, o) * (M_PI / 180);
  const auto tx = uniform(b, -6, 6, gen, o) * (2.0 / kJudgeSize), ty = uniform(b, -6, 6, gen, o) * (2.0 / kJudgeSize);
  const auto flip = torch::where(torch::rand({b}, gen, o) < 0.5, -torch::ones({b}, o), torch::ones({b}, o));
  const auto cs = torch::cos(angle) / scale, sn = torch::sin(angle) / scale;
  const auto theta = torch::stack({torch::stack({cs * flip, -sn, tx}, 1), torch::stack({sn * flip, cs, ty}, 1)}, 1);
  const auto grid = F::affine_grid(theta, images.sizes(), false);
  auto x = F::grid_sample(
               images - 1, grid,
               F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false)) +
           1;
  // Colour: saturation, contrast, brightness.
  const auto gray = (x * torch::tensor({0.299, 0.587, 0.114}, o).view({1, 3, 1, 1})).sum(1, true);
  x = gray + (x - gray) * uniform(b, 0.6, 1.4, gen, o).view({b, 1, 1, 1});
  const auto mean = x.mean({1, 2, 3}, true);
  x = mean + (x - mean) * uniform(b, 0.7, 1.3, gen, o).view({b, 1, 1, 1});
  x = x + uniform(b, -0.1, 0.1, gen, o).view({b, 1, 1, 1});
  // Blur and noise: what a small VAE's decoder and a few denoising steps leave.
  x = gaussian_blur(x, uniform(b, 0.0, 1.6, gen, o));
  x = x + torch::randn(x.sizes(), gen, o) * uniform(b, 0.0, 0.06, gen, o).view({b, 1, 1, 1});
  return x.clamp(0, 1);
}

Judge train_judge(const torch::Tensor& images, const torch::Tensor& labels, const std::vector<std::string>& names,
                  const JudgeOptions& o, const std::function<void(const JudgeTrainStep&)>& on_step) {
  const auto classes = static_cast<int64_t>(names.size());
  if (images.dim() != 4 || images.size(0) == 0 || images.size(0) != labels.size(0))
    fail("judge: expected images [N,3,H,W] (N > 0) and one label per image");
  if (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= classes)
    fail("judge: labels must lie in [0, ", classes, ")");
  if (o.steps < 1 || o.batch_size < 1) fail("judge: steps and batch_size must be positive");
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  Judge judge{names, o.widths, JudgeNet(classes, o.widths)};
  init_weights(judge.net, gen);
  judge.net->train();
  const auto data = judge_input(images.to(torch::kFloat32));
  // Each image weighs 1 / (images of its class): a person with 25 skin-tone pictures counts as much as a snowman.
  const auto counts = torch::bincount(labels, {}, classes).to(torch::kFloat32);
  const auto weights = 1.0 / counts.index_select(0, labels);
  AdamW opt({ParamGroup{"judge", judge.net->parameters(), o.lr, o.weight_decay, false}}, AdamWOptions{0.9, 0.99, 1e-8});
  const int64_t warmup = std::max<int64_t>(1, o.steps / 20);
  for (int64_t step = 0; step < o.steps; ++step) {
    opt.groups()[0].lr = o.lr * lr_factor("cosine", step, o.steps, warmup);
    const auto idx = torch::multinomial(weights, o.batch_size, true, gen);
    const auto logits = judge.net->forward(augment(data.index_select(0, idx), gen));
    const auto loss = F::cross_entropy(logits, labels.index_select(0, idx),
                                       F::CrossEntropyFuncOptions().label_smoothing(o.label_smoothing));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (on_step) on_step({step + 1, o.steps, loss.item<double>()});
  }
  judge.net->eval();
  return judge;
}

namespace {
// The net's logits of each image, [B, labels].
torch::Tensor logits(const Judge& judge, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  auto net = judge.net;  // forward() is not const; the holder shares the same module
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += 256)
    out.push_back(net->forward(judge_input(images.slice(0, i, i + 256).to(torch::kFloat32))));
  return out.empty() ? torch::empty({0, static_cast<int64_t>(judge.labels.size())}) : torch::cat(out);
}
}  // namespace

torch::Tensor classify(const Judge& judge, const torch::Tensor& images) { return logits(judge, images).argmax(1); }

torch::Tensor class_probabilities(const Judge& judge, const torch::Tensor& images) {
  return logits(judge, images).softmax(1);
}

double accuracy(const Judge& judge, const torch::Tensor& images, const torch::Tensor& labels) {
  if (images.size(0) == 0) return 0.0;
  return classify(judge, images).eq(labels).to(torch::kFloat64).mean().item<double>();
}

void save_judge(const std::string& path, const Judge& judge, const std::string& key) {
  TensorMap tensors;
  for (const auto& item : judge.net->named_parameters()) tensors[item.key()] = item.value().detach();
  save_safetensors(path, tensors,
                   {{"format", kFormat},
                    {"key", key},
                    {"labels", Json(judge.labels).dump()},
                    {"widths", Json(judge.widths).dump()}});
}

Judge load_judge(const std::string& path, const std::string& key) {
  if (!std::filesystem::exists(path)) return {};
  const auto st = SafeTensors::open(path);
  const auto& meta = st.metadata();
  const auto field = [&](const std::string& name) {
    const auto it = meta.find(name);
    return it == meta.end() ? std::string() : it->second;
  };
  if (field("format") != kFormat || field("key") != key) return {};
  Judge judge;
  try {
    judge.labels = Json::parse(field("labels")).get<std::vector<std::string>>();
    judge.widths = Json::parse(field("widths")).get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception&) {
    fail(path, ": metadata 'labels' or 'widths' is not a JSON list");
  }
  judge.net = JudgeNet(static_cast<int64_t>(judge.labels.size()), judge.widths);
  torch::NoGradGuard no_grad;
  for (auto& item : judge.net->named_parameters()) {
    if (!st.contains(item.key())) fail(path, ": tensor '", item.key(), "' is missing");
    const auto t = st.get(item.key());
    if (t.sizes() != item.value().sizes()) fail(path, ": tensor '", item.key(), "' has shape ", t.sizes());
    item.value().copy_(t);
  }
  judge.net->eval();
  return judge;
}

Judge load_saved_judge(const std::string& path) {
  if (!std::filesystem::exists(path)) fail(path, ": no such judge file");
  const auto meta = SafeTensors::open(path).metadata();  // a copy: the file's metadata dies with it
  const auto key = meta.find("key");
  auto judge = load_judge(path, key == meta.end() ? std::string() : key->second);
  if (!judge.net) fail(path, ": not a judge file (format or key missing)");
  return judge;
}

}  // namespace prtkl
