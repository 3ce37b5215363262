// The judge behind `prtkl eval`: a small CNN, independent of the model it judges (own architecture, own seed,
// trained only on real pictures), that labels an image as one of a fixed set of classes. It is trained with heavy
// augmentation (shifts, scale, rotation, flips, blur, noise, colour jitter) so that it still recognises the
// imperfect, blurry pictures a small diffusion model draws. Inputs are [B,3,H,W] in [0,1] on white; every image
// is resized to kJudgeSize first.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "core/image.h"

namespace prtkl {

constexpr int64_t kJudgeSize = 64;

struct JudgeOptions {
  std::vector<int64_t> widths = {32, 64, 128, 192};  // channels of the stride-2 stages
  int64_t steps = 1500;
  int64_t batch_size = 64;
  double lr = 2e-3, weight_decay = 0.05, label_smoothing = 0.1;
  uint64_t seed = 0;
};

class JudgeNetImpl : public torch::nn::Module {
 public:
  JudgeNetImpl(int64_t classes, const std::vector<int64_t>& widths);
  torch::Tensor forward(torch::Tensor x);  // [B,3,kJudgeSize,kJudgeSize] in [0,1] -> logits [B, classes]

 private:
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(JudgeNet);

struct Judge {
  std::vector<std::string> labels;  // class index -> name
  std::vector<int64_t> widths;
  JudgeNet net{nullptr};
};

// An 8-bit image as [3,H,W] float in [0,1]; alpha is composited onto white, gray is repeated.
torch::Tensor image_tensor(const Image& image);
// [B,3,H,W] resized to kJudgeSize × kJudgeSize (antialiased when shrinking).
torch::Tensor judge_input(const torch::Tensor& images);
// A gaussian blur of [B,3,H,W] with one sigma per image ([B]; 0 leaves an image as it is).
torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma);
// The training augmentation of a batch [B,3,kJudgeSize,kJudgeSize], drawn from `gen`.
torch::Tensor augment(const torch::Tensor& images, at::Generator& gen);

struct JudgeTrainStep {
  int64_t step, total;
  double loss;
};
// Trains from scratch on images [N,3,kJudgeSize,kJudgeSize] with labels [N] in [0, labels.size()). Batches draw
// every class equally often, whatever its number of images.
Judge train_judge(const torch::Tensor& images, const torch::Tensor& labels, const std::vector<std::string>& names,
                  const JudgeOptions& options, const std::function<void(const JudgeTrainStep&)>& on_step = {});

// Class index of each image of [B,3,H,W] in [0,1].
torch::Tensor classify(const Judge& judge, const torch::Tensor& images);
// Each image's probability of every class, [B, labels].
torch::Tensor class_probabilities(const Judge& judge, const torch::Tensor& images);
// Fraction of `images` classified as `labels` (0 for no images).
double accuracy(const Judge& judge, const torch::Tensor& images, const torch::Tensor& labels);

// safetensors with the labels, widths and `key` (what the judge was trained on) in the metadata.
void save_judge(const std::string& path, const Judge& judge, const std::string& key);
// The judge at `path` if it exists and was saved with `key`; else an empty Judge (net is null).
Judge load_judge(const std::string& path, const std::string& key);
// A judge file used as it is, whatever it was trained on (the committed judges in models/recipe): the key in its own
// metadata. Throws prtkl::Error naming the file when it is missing or is no judge.
Judge load_saved_judge(const std::string& path);

}  // namespace prtkl
