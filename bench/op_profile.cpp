// Where a UNet step or a VAE decode spends its time, and how many FLOPs it does: runs the component once to warm
// up, once more under libtorch's profiler, and prints self time per op plus the matmul-class FLOPs (convolutions,
// mm/addmm/bmm/baddbmm) counted from the shapes that really ran. The same run measures the fp32 matmul peak, so
// the efficiency figure is against a yardstick of this run. `--json FILE` writes the figures for bench/ scripts.
//
//   bench_op_profile --model DIR|FILE --component unet|vae [--size 512] [--batch 2] [--threads 2] [--json F]
//                    [--dtype fp32|bf16] [--unfused-attention] [--malloc-default]   (to measure what each of those two
//                    changes buys)
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/json_config.h"
#include "core/runtime.h"
#include "diffusion/model_loader.h"
#include "models/attention.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace prof = torch::autograd::profiler;

struct OpStats {
  double self_us = 0;
  int64_t calls = 0;
  double flops = 0;
};

// 2·M·N·K for the matmul-class ops; everything else (elementwise, norms, softmax) is not counted.
double matmul_flops(const std::string& name, const std::vector<std::vector<int64_t>>& shapes, uint64_t profiler_flops) {
  auto numel = [](const std::vector<int64_t>& s) {
    double n = 1;
    for (auto d : s) n *= static_cast<double>(d);
    return n;
  };
  if (name == "aten::mm" && shapes.size() >= 2 && shapes[0].size() == 2 && shapes[1].size() == 2)
    return 2.0 * numel(shapes[0]) * static_cast<double>(shapes[1][1]);
  if (name == "aten::addmm" && shapes.size() >= 3 && shapes[1].size() == 2 && shapes[2].size() == 2)
    return 2.0 * numel(shapes[1]) * static_cast<double>(shapes[2][1]);
  if (name == "aten::bmm" && shapes.size() >= 2 && shapes[0].size() == 3 && shapes[1].size() == 3)
    return 2.0 * numel(shapes[0]) * static_cast<double>(shapes[1][2]);
  if (name == "aten::baddbmm" && shapes.size() >= 3 && shapes[1].size() == 3 && shapes[2].size() == 3)
    return 2.0 * numel(shapes[1]) * static_cast<double>(shapes[2][2]);
  if (name == "aten::conv2d") return static_cast<double>(profiler_flops);  // needs stride/padding: the profiler's
  if (name == "prtkl::fused_attention" && shapes.size() >= 2 && shapes[0].size() == 3 && shapes[1].size() == 3)
    return 4.0 * numel(shapes[0]) * static_cast<double>(shapes[1][1]);  // q kᵀ and p v: 2·2·B·Tq·Tk·C
  return 0;
}

double measure_matmul_peak(int64_t n) {
  const auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::empty({n, n});
  torch::mm_out(c, a, b);
  std::vector<double> runs;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    torch::mm_out(c, a, b);
    runs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(runs.begin(), runs.end());
  return 2.0 * n * n * n / runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Profile one UNet step or one VAE decode"};
  std::string model_path, component = "unet", json_path, dtype = "fp32";
  int64_t size = 512, batch = 2, threads = 2;
  app.add_option("--model", model_path, "diffusers folder or single file")->required();
  app.add_option("--component", component, "unet or vae")->check(CLI::IsMember({"unet", "vae"}));
  app.add_option("--size", size, "image size in pixels");
  app.add_option("--batch", batch, "batch (2 = one step with classifier-free guidance)");
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--json", json_path, "write the summary as JSON");
  app.add_option("--dtype", dtype, "weights and activations: fp32 | bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  bool unfused = false, malloc_default = false;
  app.add_flag("--unfused-attention", unfused, "use the chunked attention instead of the fused CPU kernel");
  app.add_flag("--malloc-default", malloc_default, "leave glibc's malloc settings as they are");
  CLI11_PARSE(app, argc, argv);
  if (!malloc_default) prtkl::keep_freed_memory_in_process();
  prtkl::set_fused_attention_allowed(!unfused);

  prtkl::set_threads(static_cast<int>(threads));  // OpenBLAS's pool too
  torch::NoGradGuard no_grad;
  prtkl::LoadOptions lo;
  lo.dtype = dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  auto model = prtkl::load_model(model_path, lo);
  const int64_t factor = int64_t{1} << (model.vae->config().get<std::vector<int64_t>>("block_out_channels").size() - 1);
  const int64_t h = size / factor;
  const auto latents = torch::randn({batch, 4, h, h}).to(model.dtype);

  std::function<void()> run;
  if (component == "unet") {
    const auto cross = model.unet->config().get<int64_t>("cross_attention_dim");
    const auto states = torch::randn({batch, 77, cross}).to(model.dtype);
    torch::Tensor pooled, time_ids;
    if (model.family == prtkl::ModelFamily::SDXL) {
      pooled = torch::randn({batch, model.text_encoder_2->config().get<int64_t>("projection_dim")}).to(model.dtype);
      time_ids = torch::tensor({float(size), float(size), 0.f, 0.f, float(size), float(size)})
                     .repeat({batch, 1})
                     .to(model.dtype);
    }
    const auto t = torch::tensor(500);
    run = [&, states, pooled, time_ids, t] { model.unet->forward(latents, t, states, pooled, time_ids); };
  } else {
    run = [&] { model.vae->decode(latents); };
  }

  auto t0 = Clock::now();
  run();
  const double warm_s = std::chrono::duration<double>(Clock::now() - t0).count();

  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU,
                                                                   /*report_input_shapes=*/true, false, false,
                                                                   /*with_flops=*/true));
  t0 = Clock::now();
  run();
  const double profiled_s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto lists = prof::disableProfilerLegacy();

  std::map<std::string, OpStats> ops;
  double total_flops = 0;
  for (auto& events : lists) {
    struct Open {
      const prof::LegacyEvent* event;
      double child_us = 0;
    };
    std::vector<Open> stack;
    for (auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        auto open = stack.back();
        stack.pop_back();
        const double us = open.event->cpuElapsedUs(e);
        auto& s = ops[open.event->name()];
        s.self_us += us - open.child_us;
        s.calls += 1;
        // LegacyEvent::flops() is not const; the event is ours to read.
        const double f = matmul_flops(open.event->name(), open.event->shapes(),
                                      const_cast<prof::LegacyEvent*>(open.event)->flops());
        s.flops += f;
        total_flops += f;
        if (!stack.empty()) stack.back().child_us += us;
      }
    }
  }

  const double peak = measure_matmul_peak(2048);
  std::vector<std::pair<std::string, OpStats>> sorted(ops.begin(), ops.end());
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second.self_us > b.second.self_us; });
  double total_self_us = 0;
  for (auto& [n, s] : sorted) total_self_us += s.self_us;
  std::printf("%s %s, %lldx%lld, batch %lld, %lld threads: warm run %.2f s, profiled run %.2f s\n", component.c_str(),
              dtype.c_str(), (long long)size, (long long)size, (long long)batch, (long long)threads, warm_s,
              profiled_s);
  std::printf("%-40s %10s %6s %7s %10s %8s\n", "op (self time)", "ms", "%", "calls", "GFLOP", "GFLOP/s");
  for (size_t i = 0; i < sorted.size() && i < 25; ++i) {
    const auto& [name, s] = sorted[i];
    std::printf("%-40s %10.1f %6.1f %7lld %10.1f %8.1f\n", name.c_str(), s.self_us / 1e3,
                100.0 * s.self_us / total_self_us, (long long)s.calls, s.flops / 1e9,
                s.flops > 0 ? s.flops / (s.self_us * 1e3) : 0.0);
  }
  const double achieved = total_flops / warm_s;
  std::printf("matmul-class FLOPs: %.1f GFLOP; warm run %.1f GFLOP/s = %.0f %% of this run's matmul peak %.1f GFLOP/s\n",
              total_flops / 1e9, achieved / 1e9, 100.0 * achieved / peak, peak / 1e9);
  if (!json_path.empty()) {
    nlohmann::json j{{"component", component}, {"size", size},       {"batch", batch},
                     {"threads", threads},     {"seconds", warm_s},  {"flops", total_flops},
                     {"matmul_peak_flops", peak}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return 0;
}
