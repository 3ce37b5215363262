// A trainable low-rank adapter beside a layer's frozen weight, as PEFT puts one on any nn.Linear or nn.Conv2d:
// y = layer(x) + (alpha / r) · B(A(dropout(x))). For a convolution A has the layer's kernel, stride and padding and
// B is 1×1 (kohya's LoCon shape), so the merged delta up @ down has the layer's weight shape. Its parameters use
// PEFT's names (`lora_A.weight`, `lora_B.weight`) on the host module, so checkpoints load unchanged and a trained
// adapter saves under the keys diffusers writes.
#pragma once
#include <torch/torch.h>

namespace prtkl {

class LoraBranch {
 public:
  // PEFT's "gaussian" init: A ~ N(0, 1/r), B = 0, so the adapter starts as a no-op. Shapes: A [r, in(, k, k)],
  // B [out, r(, 1, 1)], fp32 on the host weight's device. Replaces an adapter the host already has.
  void add(torch::nn::Module& host, c10::IntArrayRef a_shape, c10::IntArrayRef b_shape, double alpha, double dropout,
           at::Generator& gen, torch::Device device);
  void remove(torch::nn::Module& host);
  bool active() const { return down.defined() && enabled; }

  // The adapter's input: x in the adapter's dtype, with dropout while training.
  torch::Tensor input(const torch::Tensor& x, bool training) const;

  torch::Tensor down, up;  // A and B: trainable
  double scale = 0.0;      // alpha / rank
  bool enabled = true;     // off: the layer computes its base weight alone (a distillation's teacher)

 private:
  double dropout_ = 0.0;
};

}  // namespace prtkl
