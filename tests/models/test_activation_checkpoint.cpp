// Activation checkpointing changes memory, not results: the tiny UNet and text encoder give the same loss and the
// same gradients with it on, also when only some of their weights train and the input needs no gradient (the LoRA
// case), and a recomputed block draws the same dropout masks and runs under the same autocast as its first run.
#include <gtest/gtest.h>

#include "core/json_config.h"
#include "core/torch_compat.h"
#include "models/activation_checkpoint.h"
#include "models/clip.h"
#include "models/unet.h"
#include "models/weights.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

// Each gradient within 1e-5 of its own norm, plus 1e-6 of the largest one: gradients that are zero in exact
// arithmetic (a bias before a GroupNorm with one channel per group) are rounding noise of ~1e-9 either way, while
// a gradient that goes missing or goes wrong fails.
void expect_same_grads(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                       const std::vector<std::string>& names) {
  ASSERT_EQ(a.size(), b.size());
  double largest = 0;
  for (const auto& g : b)
    if (g.defined()) largest = std::max(largest, g.norm().item<double>());
  ASSERT_GT(largest, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].defined(), b[i].defined()) << names[i];
    if (!b[i].defined()) continue;
    const double norm = b[i].norm().item<double>(), diff = (a[i] - b[i]).norm().item<double>();
    EXPECT_LE(diff, 1e-5 * norm + 1e-6 * largest) << names[i] << ": |grad| " << norm << ", |difference| " << diff;
  }
}

struct Run {
  double loss;
  std::vector<torch::Tensor> grads;
  std::vector<std::string> names;
};

template <typename Forward>
Run backward(torch::nn::Module& m, Forward&& forward) {
  m.zero_grad();
  torch::Tensor loss = forward();
  loss.backward();
  Run r{loss.item<double>(), {}, {}};
  for (auto& p : m.named_parameters())
    if (p.value().requires_grad()) {
      r.grads.push_back(p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor());
      r.names.push_back(p.key());
    }
  return r;
}

UNet2DConditionModel tiny_unet() {
  UNet2DConditionModel unet(Config::load(test::fixture_path("tiny-sd15/unet/config.json")));
  load_weights_file(*unet, test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
  return unet;
}

}  // namespace

TEST(ActivationCheckpoint, UnetGradientsAreUnchanged) {
  auto unet = tiny_unet();
  torch::manual_seed(0);
  const auto cross = unet->config().get<int64_t>("cross_attention_dim");
  const auto sample = torch::randn({2, 4, 8, 8}), context = torch::randn({2, 5, cross});
  const auto t = torch::tensor({10, 500});
  auto forward = [&] { return unet->forward(sample, t, context).square().mean(); };
  for (const bool all : {true, false}) {
    // all: every weight trains (full training); else only the attention projections (a LoRA's place), so the
    // first blocks' inputs need no gradient.
    for (auto& p : unet->named_parameters())
      p.value().set_requires_grad(all || p.key().find("to_q") != std::string::npos);
    unet->set_gradient_checkpointing(false);
    const auto plain = backward(*unet, forward);
    unet->set_gradient_checkpointing(true);
    const auto checkpointed = backward(*unet, forward);
    SCOPED_TRACE(all ? "every weight" : "to_q only");
    EXPECT_NEAR(checkpointed.loss, plain.loss, 1e-6 * plain.loss);
    expect_same_grads(checkpointed.grads, plain.grads, plain.names);
  }
}

TEST(ActivationCheckpoint, TextEncoderGradientsAreUnchanged) {
  ClipTextModel te(Config::load(test::fixture_path("tiny-sd15/text_encoder/config.json")));
  load_weights_file(*te, test::fixture_path("tiny-sd15/text_encoder/model.safetensors"));
  torch::manual_seed(1);
  const auto ids = torch::randint(0, te->config().get<int64_t>("vocab_size"), {2, 7});
  auto forward = [&] {
    const auto out = te->forward(ids);
    return out.last_hidden_state.square().mean() + out.hidden_states[out.hidden_states.size() - 2].mean();
  };
  te->set_gradient_checkpointing(false);
  const auto plain = backward(*te, forward);
  te->set_gradient_checkpointing(true);
  const auto checkpointed = backward(*te, forward);
  EXPECT_NEAR(checkpointed.loss, plain.loss, 1e-6 * plain.loss);
  expect_same_grads(checkpointed.grads, plain.grads, plain.names);
}

TEST(ActivationCheckpoint, RecomputationSeesTheSameDropoutAndAutocast) {
  torch::manual_seed(2);
  const auto w = torch::randn({16, 16}).requires_grad_(true);
  const auto x = torch::randn({4, 16});
  auto block = [w](const std::vector<torch::Tensor>& in) {
    return torch::dropout(torch::matmul(in[0], w), 0.5, /*train=*/true);
  };
  auto run = [&](bool checkpoint) {
    w.mutable_grad() = torch::Tensor();
    torch::manual_seed(7);
    torch::Tensor y;
    {
      AutocastGuard autocast(c10::kCPU, torch::kBFloat16, true);  // the trainer's bf16 mixed precision
      y = checkpoint ? checkpointed(block, {x}) : block({x});
    }
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    y.to(torch::kFloat32).square().sum().backward();
    // What the generator draws next must not depend on the recomputation.
    return std::make_pair(w.grad().clone(), torch::rand({1}).item<double>());
  };
  const auto [plain, next_plain] = run(false);
  const auto [recomputed, next_recomputed] = run(true);
  EXPECT_TRUE(torch::equal(recomputed, plain));
  EXPECT_EQ(next_recomputed, next_plain);
  EXPECT_GT(plain.norm().item<double>(), 0);
}
