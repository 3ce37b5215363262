#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // Debian's libtorch exports ProcessGroupGloo; its header declares it only with this
#endif
#include "dist/process_group.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include "core/error.h"

namespace prtkl {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int fallback, int min, int max) {
  const auto v = env(name);
  if (!v) return fallback;
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v->size() || n < min || n > max) fail("environment: ", name, "=", *v, " must be a whole number in [", min, ", ", max, "]");
  return n;
}

}  // namespace

std::optional<DistributedEnv> DistributedEnv::from_environment() {
  DistributedEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  if (e.world_size == 1) return std::nullopt;
  if (!env("RANK")) fail("environment: WORLD_SIZE=", e.world_size, " needs RANK (this process's rank, 0 to ", e.world_size - 1, ")");
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, e.world_size - 1);
  e.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return e;
}

struct ProcessGroup::Impl {
  int rank = 0, world = 1;
  torch::Device device = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;

  template <typename F>
  auto guarded(const char* what, F&& f) {
    try {
      return f();
    } catch (const c10::Error& e) {
      fail("rank ", rank, ": ", what, " failed (another rank died or cannot be reached): ", e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail("rank ", rank, ": ", what, " failed (another rank died or cannot be reached): ", e.what());
    }
  }
};

ProcessGroup::ProcessGroup(const DistributedEnv& env, const torch::Device& device, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.rank = env.rank;
  s.world = env.world_size;
  s.device = device;
  s.guarded("joining the run", [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world_size;
    so.waitWorkers = true;
    so.timeout = timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      s.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(s.store, env.rank, env.world_size, o);
      return;
#else
      fail("this libtorch has no NCCL: distributed training on CUDA needs a CUDA build of libtorch");
#endif
    }
    auto o = c10d::ProcessGroupGloo::Options::create();
    o->timeout = timeout;
    // Loopback runs talk over 127.0.0.1; across machines, over the interface that reaches the master.
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    o->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                               : c10d::ProcessGroupGloo::createDefaultDevice());
    s.group = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, env.rank, env.world_size, o);
  });
}

ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return impl_->rank; }
int ProcessGroup::world_size() const { return impl_->world; }

void ProcessGroup::all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  auto& s = *impl_;
  torch::NoGradGuard no_grad;
  size_t i = 0;
  while (i < tensors.size()) {
    // A bucket: consecutive tensors of one dtype and device up to bucket_bytes, summed as one flat tensor.
    size_t j = i;
    int64_t bytes = 0;
    while (j < tensors.size() && (j == i || (bytes < bucket_bytes && tensors[j].scalar_type() == tensors[i].scalar_type() &&
                                            tensors[j].device() == tensors[i].device())))
      bytes += tensors[j].numel() * tensors[j].element_size(), ++j;
    std::vector<torch::Tensor> parts;
    for (size_t k = i; k < j; ++k) parts.push_back(tensors[k].reshape(-1));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    s.guarded("summing gradients", [&] { s.group->allreduce(flat)->wait(); });
    int64_t at = 0;
    for (size_t k = i; k < j; ++k) {
      const auto n = tensors[k].numel();
      tensors[k].copy_(flat[0].narrow(0, at, n).view_as(tensors[k]));
      at += n;
    }
    i = j;
  }
}

double ProcessGroup::all_reduce_sum(double value) {
  auto& s = *impl_;
  std::vector<torch::Tensor> t{torch::tensor({value}, torch::kFloat64).to(s.device)};
  s.guarded("summing the loss", [&] { s.group->allreduce(t)->wait(); });
  return t[0].item<double>();
}

}  // namespace prtkl
