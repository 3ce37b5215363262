// The fused CPU attention on the shapes SD 1.5's UNet gives it at 512² with CFG (batch 2, 8 heads): self-attention
// at the 64² and 32² latents and cross-attention to 77 text tokens, with q, k, v as the projections leave them
// ([B, T, heads·d] rows); on 2 threads and, for the largest, on 1 (thread scaling) and as one 40-wide head.
// Arguments: query tokens, key tokens, channels, threads. Reports GFLOP/s (q·kᵀ and p·v) as the "FLOPS" counter.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/runtime.h"

#include "models/fused_attention_cpu.h"

namespace {

void BM_FusedAttention(benchmark::State& state) {
  const int64_t tq = state.range(0), tk = state.range(1), channels = state.range(2), batch = 2;
  const int64_t heads = channels >= 8 * 40 ? 8 : 1;
  prtkl::set_threads(static_cast<int>(state.range(3)));
  torch::NoGradGuard no_grad;
  const auto q = torch::randn({batch, tq, channels}), k = torch::randn({batch, tk, channels}),
             v = torch::randn({batch, tk, channels});
  if (!prtkl::fused_attention_applies(q, k, v, heads)) {
    state.SkipWithError("fused attention does not apply on this CPU");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(prtkl::fused_attention_cpu(q, k, v, heads).data_ptr<float>());
  state.counters["FLOPS"] = benchmark::Counter(4.0 * batch * tq * tk * channels,
                                               benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_FusedAttention)
    ->Args({4096, 4096, 320, 2})->Args({4096, 4096, 320, 1})->Args({4096, 4096, 40, 1})
    ->Args({1024, 1024, 640, 2})
    ->Args({4096, 77, 320, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
