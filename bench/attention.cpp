// Attention on the shapes the models give it with CFG (batch 2), q, k, v as the projections leave them
// ([B, T, heads·d] rows): SD 1.5's UNet at 512² (8 heads: self-attention at the 64² and 32² latents, cross-attention
// to 77 text tokens; the largest also on 1 thread and as one 40-wide head), SDXL's at 1024² (64-wide heads at the
// 64² latent) and the VAE's one 512-wide head at a 512² decode.
// Each in float32 and bfloat16 through attention(), fused (the widest kernel this CPU has) and unfused (chunked
// matmul + softmax, what the fused kernel replaces); float32 also on the AVX2 kernel.
// Arguments: query tokens, key tokens, heads, head size, threads.
// Reports GFLOP/s (q·kᵀ and p·v) as the "FLOPS" counter.
#include "models/attention.h"

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/runtime.h"
#include "models/fused_attention_cpu.h"

namespace {

void run_attention(benchmark::State& state, torch::ScalarType dtype, bool fused,
                   std::optional<prtkl::AttentionKernel> kernel = std::nullopt) {
  const int64_t tq = state.range(0), tk = state.range(1), heads = state.range(2), channels = heads * state.range(3);
  const int64_t batch = 2;
  prtkl::set_threads(static_cast<int>(state.range(4)));
  torch::NoGradGuard no_grad;
  const auto q = torch::randn({batch, tq, channels}).to(dtype), k = torch::randn({batch, tk, channels}).to(dtype),
             v = torch::randn({batch, tk, channels}).to(dtype);
  const auto kernels = prtkl::available_attention_kernels();
  if (fused && (!prtkl::fused_attention_applies(q, k, v, heads) ||
                (kernel && std::find(kernels.begin(), kernels.end(), *kernel) == kernels.end()))) {
    state.SkipWithError("fused attention does not apply to this dtype on this CPU");
    return;
  }
  prtkl::set_fused_attention_allowed(fused);
  for (auto _ : state) {
    auto out = kernel ? prtkl::fused_attention_cpu(q, k, v, heads, kernel) : prtkl::attention(q, k, v, heads);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  prtkl::set_fused_attention_allowed(true);
  state.counters["FLOPS"] = benchmark::Counter(4.0 * batch * tq * tk * channels,
                                               benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_FusedAttention(benchmark::State& state) { run_attention(state, torch::kFloat32, true); }
void BM_FusedAttentionAvx2(benchmark::State& state) {
  run_attention(state, torch::kFloat32, true, prtkl::AttentionKernel::avx2);
}
void BM_UnfusedAttention(benchmark::State& state) { run_attention(state, torch::kFloat32, false); }
void BM_FusedAttentionBf16(benchmark::State& state) { run_attention(state, torch::kBFloat16, true); }
void BM_UnfusedAttentionBf16(benchmark::State& state) { run_attention(state, torch::kBFloat16, false); }

void model_shapes(benchmark::internal::Benchmark* b) {
  b->Args({4096, 4096, 8, 40, 2})
      ->Args({4096, 4096, 8, 40, 1})
      ->Args({4096, 4096, 1, 40, 1})
      ->Args({1024, 1024, 8, 80, 2})
      ->Args({4096, 77, 8, 40, 2})
      ->Args({4096, 4096, 10, 64, 2})
      ->Args({4096, 4096, 1, 512, 2})
      ->Args({4096, 4096, 4, 128, 2})
      ->Args({4096, 4096, 2, 256, 2})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

}  // namespace

BENCHMARK(BM_FusedAttention)->Apply(model_shapes);
BENCHMARK(BM_FusedAttentionAvx2)->Apply(model_shapes);
BENCHMARK(BM_UnfusedAttention)->Apply(model_shapes);
BENCHMARK(BM_FusedAttentionBf16)->Apply(model_shapes);
BENCHMARK(BM_UnfusedAttentionBf16)->Apply(model_shapes);
BENCHMARK_MAIN();
