#include "models/lora_branch.h"

namespace prtkl {

namespace {
// A holder module with one parameter "weight", registered as `name` on the host: "lora_A.weight".
torch::Tensor register_weight(torch::nn::Module& host, const std::string& name, torch::Tensor value) {
  auto holder = std::make_shared<torch::nn::Module>();
  auto w = holder->register_parameter("weight", std::move(value));
  host.register_module(name, holder);
  return w;
}
}  // namespace

void LoraBranch::add(torch::nn::Module& host, c10::IntArrayRef a_shape, c10::IntArrayRef b_shape, double alpha,
                     double dropout, at::Generator& gen, torch::Device device) {
  remove(host);
  const auto rank = a_shape[0];
  torch::NoGradGuard no_grad;
  down = register_weight(host, "lora_A", (torch::randn(a_shape, gen, torch::kFloat32) / static_cast<double>(rank)).to(device));
  up = register_weight(host, "lora_B", torch::zeros(b_shape, torch::TensorOptions().dtype(torch::kFloat32).device(device)));
  scale = alpha / static_cast<double>(rank);
  dropout_ = dropout;
}

void LoraBranch::remove(torch::nn::Module& host) {
  if (!active()) return;
  host.unregister_module("lora_A");
  host.unregister_module("lora_B");
  down = up = torch::Tensor();
  scale = 0.0;
}

torch::Tensor LoraBranch::input(const torch::Tensor& x, bool training) const {
  namespace F = torch::nn::functional;
  auto h = x.to(down.scalar_type());
  return dropout_ > 0 ? F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(training)) : h;
}

}  // namespace prtkl
