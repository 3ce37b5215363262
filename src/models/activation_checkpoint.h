// Activation (gradient) checkpointing, as torch.utils.checkpoint does it: a block's forward runs without keeping
// its activations, and the backward pass runs it again (same RNG state, same autocast) to get them. Training
// memory then holds one block's activations at a time instead of every block's, for one extra forward.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace prtkl {

using BlockFn = std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>;

// fn(inputs), recomputed in the backward pass. `fn` must capture what it uses by value (it runs again after the
// caller returned); inputs may be undefined tensors. Gradients reach the inputs and every parameter `fn` uses,
// also when no input needs one (the first block of a LoRA UNet).
torch::Tensor checkpointed(BlockFn fn, std::vector<torch::Tensor> inputs);

// Whether a module should checkpoint now: switched on, and building a graph (not under NoGradGuard).
inline bool checkpointing_now(bool enabled) { return enabled && torch::GradMode::is_enabled(); }

}  // namespace prtkl
