// Data-parallel training across processes and machines on PyTorch's c10d (no protocol of our own): a TCPStore
// rendezvous at MASTER_ADDR:MASTER_PORT and a Gloo process group on the CPU (NCCL where libtorch has CUDA and the
// run is on a GPU). The trainer sums its gradients over the ranks with it; every rank then takes the same step.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace prtkl {

// Where this process sits in a run, in torchrun's variables.
struct DistributedEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // From RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; nullopt when WORLD_SIZE is unset or 1. A bad value
  // is an error naming its variable.
  static std::optional<DistributedEnv> from_environment();
};

class ProcessGroup {
 public:
  // Blocks until every rank has joined (or `timeout` passes). `timeout` also bounds each collective: a rank that
  // hangs fails the others after it; a rank that dies fails them at once (its connections close).
  ProcessGroup(const DistributedEnv& env, const torch::Device& device, std::chrono::seconds timeout);
  ~ProcessGroup();
  int rank() const;
  int world_size() const;
  // Sums the tensors over all ranks, in place, flattened into buckets of about `bucket_bytes` per call (as DDP
  // does: one message per bucket instead of one per tensor). Every rank must pass the same shapes in the same order.
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = int64_t{25} << 20);
  double all_reduce_sum(double value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prtkl
