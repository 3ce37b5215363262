// Data-parallel training on c10d (Gloo over loopback), as a user runs it: `prtkl launch --nproc 2 -- train ...`
// equals one process with the whole batch, and a rank killed mid-run stops the run with a clear message and the
// newest checkpoint intact, which a run with another world size resumes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/file_util.h"
#include "core/json_config.h"
#include "core/safetensors.h"
#include "support/fixtures.h"
#include "../train/train_data.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

std::string write_config(const std::string& dir, int64_t steps, int images) {
  test::write_shapes_dataset(dir + "/data", images);
  std::ofstream(dir + "/train.json") << Json({{"model", test::fixture_path("tiny-sd15")},
                                              {"data", dir + "/data"},
                                              {"resolution", 32},
                                              {"pivotal", true},
                                              {"lr", 0.001},
                                              {"snr_gamma", 5.0},
                                              {"checkpoint_every", steps > 10 ? 1 : steps},
                                              {"log_every", 1},
                                              {"max_train_steps", steps}})
                                            .dump();
  return dir + "/train.json";
}

double relative_distance(const torch::Tensor& a, const torch::Tensor& b) {
  const auto x = a.to(torch::kFloat64), y = b.to(torch::kFloat64);
  return ((x - y).norm() / x.norm().clamp_min(1e-12)).item<double>();
}

}  // namespace

// Three images and a global batch of two: the second batch of each epoch leaves rank 1 nothing, which must still
// add up (its zero gradients, its share of the random numbers).
TEST(CliLaunch, TwoRanksEqualOneProcessWithTheWholeBatch) {
  const auto dir = test::scratch_dir("cli_launch_equal");
  const auto config = write_config(dir, 4, 3);
  const auto bin = test::prtkl_binary();
  auto r = test::run_command(bin + " train --config " + config + " --out " + dir + "/one --set batch_size=2 --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  r = test::run_command(bin + " launch --nproc 2 --master-port 0 -- train --config " + config + " --out " + dir +
                        "/two --set batch_size=1 --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 ranks × batch 1"), std::string::npos) << r.output;
  for (const auto* file : {"/pytorch_lora_weights.safetensors", "/prtkl_emb.safetensors"}) {
    auto a = SafeTensors::open(dir + "/one" + file), b = SafeTensors::open(dir + "/two" + file);
    ASSERT_EQ(a.names(), b.names()) << file;
    for (const auto& n : a.names()) EXPECT_LE(relative_distance(a.get(n), b.get(n)), 1e-4) << file << " " << n;
  }
  const auto loss = [](const std::string& csv) {
    std::vector<double> out;
    for (const auto& cell : test::csv_column(csv, 1)) out.push_back(std::stod(cell));
    return out;
  };
  const auto la = loss(dir + "/one/loss.csv"), lb = loss(dir + "/two/loss.csv");
  ASSERT_EQ(la.size(), 4u);
  ASSERT_EQ(lb.size(), 4u) << "rank 0 alone writes the log";
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * std::abs(la[i])) << "step " << i + 1;
}

TEST(CliLaunch, AKilledRankStopsTheRunAndAnotherWorldSizeResumes) {
  const auto dir = test::scratch_dir("cli_launch_kill");
  const auto config = write_config(dir, 400, 4);
  const auto run = dir + "/run";
  const pid_t launcher = fork();
  if (launcher == 0) {
    execl("/bin/sh", "sh", "-c",
          ("exec " + test::prtkl_binary() + " launch --nproc 2 --master-port 0 -- train --config " + config + " --out " +
           run + " --set batch_size=1 --threads 1 > " + dir + "/launch.log 2>&1")
              .c_str(),
          nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(run + "/checkpoint-2"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(run + "/checkpoint-2")) << read_file(dir + "/launch.log");
  // Rank 1: the launcher's child with RANK=1 in its environment.
  pid_t rank1 = -1;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (!(stat >> pid >> comm >> state >> ppid) || ppid != launcher) continue;
    const auto env = read_file((e.path() / "environ").string());
    if (env.find(std::string("RANK=1") + '\0') != std::string::npos && env.find("LOCAL_RANK=1") != std::string::npos)
      rank1 = std::stoi(name);
  }
  ASSERT_GT(rank1, 0) << "rank 1 not found among the launcher's children";
  kill(rank1, SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  int status = 0;
  waitpid(launcher, &status, 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  EXPECT_LT(seconds, 30) << "rank 0 must fail fast on a dead peer, not wait for the collective timeout";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  const auto log = read_file(dir + "/launch.log");
  EXPECT_NE(log.find("rank 1 was killed by signal 9"), std::string::npos) << log;

  int64_t newest = -1;
  for (const auto& e : fs::directory_iterator(run)) {
    const auto name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.find(".partial") != std::string::npos) continue;
    EXPECT_NO_THROW(SafeTensors::open((e.path() / "training_state.safetensors").string())) << name;
    newest = std::max<int64_t>(newest, std::stoll(name.substr(11)));
  }
  ASSERT_GE(newest, 2);
  const auto r = test::run_command(test::prtkl_binary() + " train --config " + config + " --out " + run +
                                   " --resume latest --set batch_size=2 --threads 1 --steps " + std::to_string(newest + 1));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(SafeTensors::open(run + "/pytorch_lora_weights.safetensors").metadata().at("prtkl.steps"),
            std::to_string(newest + 1));
}
