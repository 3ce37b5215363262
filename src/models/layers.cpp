#include "models/layers.h"

#include <cmath>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace prtkl {

namespace {
thread_local std::optional<torch::TensorOptions> skip_init_options;
}  // namespace

SkipInit::SkipInit(torch::TensorOptions options) : previous_(skip_init_options) { skip_init_options = options; }
SkipInit::~SkipInit() { skip_init_options = previous_; }

bool init_skipped() { return skip_init_options.has_value(); }

namespace {
// Where the kernel gives transparent huge pages only on request (THP "madvise", Debian's default), ask for them for
// the whole 2 MiB pages inside a large CPU tensor: the load that fills it then takes one page fault per 2 MiB
// instead of one per 4 KiB (the faults were a quarter of an SD 1.5 load).
void advise_huge_pages(const torch::Tensor& t) {
#ifdef __linux__
  if (!t.device().is_cpu()) return;
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const auto start = reinterpret_cast<uintptr_t>(t.data_ptr());
  const auto begin = (start + kHuge - 1) & ~(kHuge - 1), end = (start + t.nbytes()) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}
}  // namespace

torch::Tensor empty_parameter(c10::IntArrayRef shape) {
  if (!skip_init_options) return torch::empty(shape);
  auto t = torch::empty(shape, *skip_init_options);
  advise_huge_pages(t);
  return t;
}

void init_like_linear(torch::Tensor& weight, torch::Tensor& bias) {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (!bias.defined()) return;
  const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  torch::nn::init::uniform_(bias, -bound, bound);
}

namespace {
// GroupNorm's and LayerNorm's affine parameters: weight 1, bias 0.
void affine_parameters(torch::nn::Module& m, int64_t n, torch::Tensor& weight, torch::Tensor& bias) {
  weight = m.register_parameter("weight", empty_parameter({n}));
  bias = m.register_parameter("bias", empty_parameter({n}));
  if (init_skipped()) return;
  torch::NoGradGuard no_grad;
  weight.fill_(1);
  bias.zero_();
}
}  // namespace

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias) {
  weight = register_parameter("weight", empty_parameter({out, in}));
  if (with_bias) bias = register_parameter("bias", empty_parameter({out}));
  if (!init_skipped()) init_like_linear(weight, bias);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return torch::linear(x, weight, bias); }

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_)
    : stride(stride_), padding(padding_) {
  weight = register_parameter("weight", empty_parameter({out, in, kernel, kernel}));
  bias = register_parameter("bias", empty_parameter({out}));
  if (!init_skipped()) init_like_linear(weight, bias);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& x) {
  return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

GroupNormImpl::GroupNormImpl(int64_t groups_, int64_t channels, double eps_) : groups(groups_), eps(eps_) {
  affine_parameters(*this, channels, weight, bias);
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& x) { return torch::group_norm(x, groups, weight, bias, eps); }

LayerNormImpl::LayerNormImpl(int64_t dim, double eps_) : eps(eps_) { affine_parameters(*this, dim, weight, bias); }

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps);
}

EmbeddingImpl::EmbeddingImpl(int64_t count, int64_t dim) {
  weight = register_parameter("weight", empty_parameter({count, dim}));
  if (init_skipped()) return;
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(weight);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

}  // namespace prtkl
