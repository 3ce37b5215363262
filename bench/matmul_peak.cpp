// This machine's fp32 matmul peak through libtorch (the BLAS it calls), the ceiling for the UNet's FLOP
// efficiency in BENCHMARKS.md. Reports GFLOP/s as the "FLOPS" counter.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/runtime.h"

namespace {

void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  prtkl::set_threads(static_cast<int>(state.range(1)));  // OpenBLAS's pool too
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  for (auto _ : state) {
    torch::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_Matmul)->ArgsProduct({{1024, 2048, 4096}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
