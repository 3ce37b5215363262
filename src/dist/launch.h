// `prtkl launch`: N local ranks of a command, as torchrun starts them (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT in each one's environment). When one rank fails, the others are stopped, so a run never hangs on a
// dead peer; the exit code is the failed rank's.
#pragma once
#include <string>
#include <vector>

namespace prtkl {

struct LaunchOptions {
  int nproc = 1;                  // ranks on this machine
  int nnodes = 1, node_rank = 0;  // machines in the run, and this one's index (its ranks: node_rank·nproc + i)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;        // 0: a free port of this machine (single-machine runs)
  std::vector<std::string> args;  // the prtkl command for every rank, e.g. {"train", "--config", "run.json"}
};

// Runs `program` (normally prtkl itself) with `args` once per local rank and waits for all. Returns 0 when all
// succeed, else the exit code of the first rank that failed (128 + signal when one was killed).
int launch(const std::string& program, const LaunchOptions& options);

}  // namespace prtkl
