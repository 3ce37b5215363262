// `prtkl launch --nproc N -- train ...`: N local ranks of a prtkl command, as torchrun starts them
// (docs/scaling.md). Its exit code is the first failed rank's.
#include <cstdlib>
#include <filesystem>

#include "cli/subcommand.h"
#include "dist/launch.h"

namespace prtkl::cli {

namespace {

RegisterSubcommand reg("launch", [](CLI::App& app) {
  auto o = std::make_shared<LaunchOptions>();
  auto* sub = app.add_subcommand("launch", "Run a prtkl command as N ranks of a distributed run (like torchrun)");
  sub->add_option("--nproc", o->nproc, "ranks on this machine")->capture_default_str();
  sub->add_option("--nnodes", o->nnodes, "machines in the run")->capture_default_str();
  sub->add_option("--node-rank", o->node_rank, "this machine's index in the run")->capture_default_str();
  sub->add_option("--master-addr", o->master_addr, "address of rank 0's machine")->capture_default_str();
  sub->add_option("--master-port", o->master_port, "rank 0's rendezvous port (0: a free one, one machine only)")
      ->capture_default_str();
  sub->add_option("args", o->args, "the command after --, e.g. -- train --config run.json")->required();
  sub->callback([o] {
    const int code = launch(std::filesystem::read_symlink("/proc/self/exe").string(), *o);
    if (code != 0) std::exit(code);
  });
});

}  // namespace

}  // namespace prtkl::cli
