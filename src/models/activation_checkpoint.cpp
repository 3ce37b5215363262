#include "models/activation_checkpoint.h"

#include <ATen/autocast_mode.h>

#include "core/torch_compat.h"

namespace prtkl {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the recomputation needs besides the saved inputs: the block, the RNG state its dropout drew from, and the
// autocast it ran under.
struct Recompute : torch::CustomClassHolder {
  BlockFn fn;
  at::Generator generator;
  torch::Tensor rng_state;
  c10::DeviceType device = c10::kCPU;
  bool autocast = false;
  c10::ScalarType autocast_dtype = c10::kBFloat16;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // `inputs` as a TensorList: that is what autograd counts as tensor inputs (a std::vector would be opaque).
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<Recompute> r, at::TensorList inputs) {
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(r);
    ctx->save_for_backward(inputs.vec());
    return {r->fn(inputs.vec())};  // autograd runs forward() with grad mode off: nothing is kept
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto r = ctx->saved_data["recompute"].toCapsule();
    auto& rc = *static_cast<Recompute*>(r.get());
    const auto saved = ctx->get_saved_variables();
    variable_list inputs;
    for (const auto& t : saved) inputs.push_back(t.defined() ? t.detach().requires_grad_(t.requires_grad()) : t);
    torch::Tensor out;
    {
      // The same random numbers as the first run (dropout), then the generator goes on where it was.
      const auto now = rc.generator.get_state();
      rc.generator.set_state(rc.rng_state);
      torch::AutoGradMode grad(true);
      AutocastGuard autocast(rc.device, rc.autocast_dtype, rc.autocast);
      out = rc.fn(inputs);
      rc.generator.set_state(now);
    }
    if (out.requires_grad()) torch::autograd::backward({out}, {grad_outputs[0]});
    variable_list grads = {torch::Tensor()};  // for the Recompute argument
    for (const auto& t : inputs) grads.push_back(t.defined() && t.requires_grad() ? t.grad() : torch::Tensor());
    return grads;
  }
};

}  // namespace

torch::Tensor checkpointed(BlockFn fn, std::vector<torch::Tensor> inputs) {
  auto r = c10::make_intrusive<Recompute>();
  r->fn = std::move(fn);
  const auto& first = inputs.front();
  r->device = first.device().type();
  r->generator = at::globalContext().defaultGenerator(first.device());
  r->rng_state = r->generator.get_state();
  r->autocast = r->device == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  r->autocast_dtype =
      r->device == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  // Autograd calls backward() only when an input needs a gradient; the block's parameters may be the only things
  // that do, so a zero-size input that needs one keeps the block in the graph.
  bool any = false;
  for (const auto& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) inputs.push_back(torch::empty({0}, first.options().dtype(torch::kFloat32)).requires_grad_(true));
  return CheckpointFunction::apply(r, at::TensorList(inputs))[0];
}

}  // namespace prtkl
