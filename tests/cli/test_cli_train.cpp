// `prtkl train` as a user runs it: a JSON config plus command-line overrides, the resolved config in the run
// folder, a kill -9 in the middle leaving the newest complete checkpoint loadable, and --resume latest.
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

TEST(CliTrain, ConfigFileKillNineAndResume) {
  const auto dir = test::scratch_dir("cli_train");
  test::write_shapes_dataset(dir + "/data", 3);
  const auto run = dir + "/run";
  std::ofstream(dir + "/train.json") << Json({{"model", test::fixture_path("tiny-sd15")},
                                              {"data", dir + "/data"},
                                              {"output_dir", run},
                                              {"resolution", 32},
                                              {"pivotal", true},
                                              {"checkpoint_every", 1},
                                              {"max_train_steps", 400}})
                                            .dump();
  const auto base = test::prtkl_binary() + " train --config " + dir + "/train.json --threads 1 --set lr=0.001";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + base + " > " + dir + "/first.log 2>&1").c_str(), nullptr);
    _exit(127);
  }
  // Kill it hard once a few checkpoints exist, whatever it is doing then.
  for (int i = 0; i < 600 && !fs::exists(run + "/checkpoint-3"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(run + "/checkpoint-3")) << read_file(dir + "/first.log");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);

  const auto config = read_json_file(run + "/config.json");
  EXPECT_EQ(config["rank"], 4);
  EXPECT_DOUBLE_EQ(config["lr"].get<double>(), 0.001) << "--set overrides the file";
  EXPECT_EQ(config["trigger"], "TOK") << "pivotal tuning prepends the token abstraction";
  // Every complete checkpoint loads; the newest one is what resume picks.
  int64_t newest = -1;
  for (const auto& e : fs::directory_iterator(run)) {
    const auto name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.find(".partial") != std::string::npos) continue;
    EXPECT_NO_THROW(SafeTensors::open((e.path() / "training_state.safetensors").string())) << name;
    EXPECT_NO_THROW(SafeTensors::open((e.path() / "pytorch_lora_weights.safetensors").string())) << name;
    EXPECT_NO_THROW(SafeTensors::open((e.path() / "prtkl_emb.safetensors").string())) << name;
    newest = std::max<int64_t>(newest, std::stoll(name.substr(11)));
  }
  ASSERT_GE(newest, 3);
  const auto r = test::run_command(base + " --resume latest --steps " + std::to_string(newest + 2));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(run + "/pytorch_lora_weights.safetensors"));
  EXPECT_TRUE(fs::exists(run + "/prtkl_emb.safetensors"));
  EXPECT_EQ(SafeTensors::open(run + "/pytorch_lora_weights.safetensors").metadata().at("prtkl.steps"),
            std::to_string(newest + 2));
}

// Every memory switch on (gradient checkpointing, bf16 base weights, cached latents with the VAE freed and read
// back for validation images, cached text embeddings, caption dropout): killed with -9 and resumed, the run ends
// with exactly the adapter of an uninterrupted run of the same length.
TEST(CliTrain, KillNineWithEveryMemorySwitchResumesExactly) {
  const auto dir = test::scratch_dir("cli_train_switches");
  test::write_shapes_dataset(dir + "/data", 3);
  std::ofstream(dir + "/train.json") << Json({{"model", test::fixture_path("tiny-sd15")},
                                              {"data", dir + "/data"},
                                              {"resolution", 32},
                                              {"checkpoint_every", 1},
                                              {"max_train_steps", 400},
                                              {"lr", 0.001},
                                              {"caption_dropout", 0.3},
                                              {"gradient_checkpointing", true},
                                              {"base_dtype", "bf16"},
                                              {"cache_latents", true},
                                              {"cache_text_embeddings", true},
                                              {"validation_prompts", {"a red circle"}},
                                              {"validation_steps", 2}})
                                            .dump();
  const auto base = test::prtkl_binary() + " train --config " + dir + "/train.json --threads 1";
  const auto run = dir + "/run";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + base + " --out " + run + " > " + dir + "/first.log 2>&1").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(run + "/checkpoint-3"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(run + "/checkpoint-3")) << read_file(dir + "/first.log");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(fs::exists(run + "/checkpoint-3/validation/p0-s1.png")) << "the freed VAE came back for validation";
  int64_t newest = -1;
  for (const auto& e : fs::directory_iterator(run)) {
    const auto name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) == 0 && name.find(".partial") == std::string::npos)
      newest = std::max<int64_t>(newest, std::stoll(name.substr(11)));
  }
  const auto steps = " --steps " + std::to_string(newest + 2);
  auto r = test::run_command(base + " --out " + run + " --resume latest" + steps);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  r = test::run_command(base + " --out " + dir + "/straight" + steps);
  ASSERT_EQ(r.code, 0) << r.output;
  auto a = SafeTensors::open(run + "/pytorch_lora_weights.safetensors");
  auto b = SafeTensors::open(dir + "/straight/pytorch_lora_weights.safetensors");
  ASSERT_EQ(a.names(), b.names());
  for (const auto& n : a.names()) EXPECT_TRUE(torch::equal(a.get(n), b.get(n))) << n;
  EXPECT_EQ(a.metadata().at("prtkl.steps"), std::to_string(newest + 2));
}

TEST(CliTrain, BadConfigIsAOneLineError) {
  const auto dir = test::scratch_dir("cli_train_bad");
  std::ofstream(dir + "/bad.json") << R"({"model": "x", "rnak": 4})";
  auto r = test::run_command(test::prtkl_binary() + " train --config " + dir + "/bad.json");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown option \"rnak\""), std::string::npos) << r.output;
  r = test::run_command(test::prtkl_binary() + " train --model " + test::fixture_path("tiny-sd15") + " --data " + dir +
                        "/missing --out " + dir + "/run");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
}
