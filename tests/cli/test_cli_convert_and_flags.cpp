// `prtkl convert` from the command line, and the generate flags --num-images, --config, --vae and --threads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/file_util.h"
#include "core/image.h"
#include "core/safetensors.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

const std::string kUnet = "/unet/diffusion_pytorch_model.safetensors";

}  // namespace

TEST(CliConvert, FolderToSingleFileAndBackWithDtype) {
  const auto dir = test::scratch_dir("convert");
  auto r = test::run_prtkl("convert " + test::fixture_path("tiny-sd15") + " " + dir + "/one.safetensors");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(dir + "/one.safetensors"), std::string::npos) << r.output;
  {
    const auto ours = SafeTensors::open(dir + "/one.safetensors");
    const auto reference = SafeTensors::open(test::fixture_path("tiny-sd15.safetensors"));  // diffusers' script
    EXPECT_EQ(std::set<std::string>(ours.names().begin(), ours.names().end()),
              std::set<std::string>(reference.names().begin(), reference.names().end()));
    for (const auto& n : reference.names())
      if (ours.contains(n)) EXPECT_TRUE(torch::equal(ours.get(n), reference.get(n))) << n;
  }
  // Back to a folder, stored as fp16, configs from --config.
  r = test::run_prtkl("convert " + dir + "/one.safetensors " + dir + "/folder --dtype fp16 --config " +
                test::fixture_path("tiny-sd15"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto unet = SafeTensors::open(dir + "/folder" + kUnet);
  const auto reference = SafeTensors::open(test::fixture_path("tiny-sd15") + kUnet);
  ASSERT_EQ(unet.names().size(), reference.names().size());
  for (const auto& n : reference.names()) {
    ASSERT_EQ(unet.info(n).dtype, "F16") << n;
    EXPECT_TRUE(torch::equal(unet.get(n), reference.get(n).to(torch::kFloat16))) << n;
  }
  EXPECT_EQ(read_file(dir + "/folder/scheduler/scheduler_config.json"),
            read_file(test::fixture_path("tiny-sd15/scheduler/scheduler_config.json")));
  r = test::run_prtkl("convert " + test::fixture_path("tiny-sd15") + " " + dir + "/x.safetensors --dtype fp8");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/x.safetensors"));
}

TEST(CliGenerate, NumImagesWritesNumberedFiles) {
  const auto dir = test::scratch_dir("num_images");
  auto r = test::run_prtkl("generate --threads 1 --model " + test::fixture_path("tiny-sd15") +
                     " --prompt cat --steps 2 --seed 5 --num-images 2 --out " + dir + "/cat.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir + "/cat.png"));
  for (int i = 0; i < 2; ++i) {
    const auto text = read_png_text(dir + "/cat-" + std::to_string(i) + ".png").at("parameters");
    EXPECT_NE(text.find("Seed: 5"), std::string::npos) << text;
    EXPECT_NE(text.find("Batch size: 2, Batch pos: " + std::to_string(i)), std::string::npos) << text;
  }
  EXPECT_NE(read_image(dir + "/cat-0.png").pixels, read_image(dir + "/cat-1.png").pixels) << "two different draws";
}

// A single file with --config takes that folder's configs: with a scheduler of another beta_end there, the image
// is the folder's (the single file's own defaults would give another one).
TEST(CliGenerate, ConfigFolderForASingleFile) {
  const auto dir = test::scratch_dir("config");
  const auto folder = dir + "/tiny-sd15";
  fs::copy(test::fixture_path("tiny-sd15"), folder, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(folder))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  auto sched = read_json_file(folder + "/scheduler/scheduler_config.json");
  sched["beta_end"] = 0.02;
  write_file_atomic(folder + "/scheduler/scheduler_config.json", sched.dump(2));
  const auto args = " --threads 1 --prompt cat --steps 2 --seed 5 --out ";
  ASSERT_EQ(test::run_prtkl("generate --model " + folder + args + dir + "/folder.png").code, 0);
  auto r = test::run_prtkl("generate --model " + test::fixture_path("tiny-sd15.safetensors") + " --config " + folder + args +
                     dir + "/with.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_image(dir + "/with.png").pixels, read_image(dir + "/folder.png").pixels);
}

// A checkpoint saved without its VAE draws with --vae exactly what the whole file draws; without --vae it is a
// one-line input error naming the flag.
TEST(CliGenerate, VaeFlagSuppliesAMissingVae) {
  const auto dir = test::scratch_dir("vae_flag");
  TensorMap without, vae;
  for (const auto& [k, t] : SafeTensors::open(test::fixture_path("tiny-sd15.safetensors")).all())
    (k.rfind("first_stage_model.", 0) == 0 ? vae[k.substr(18)] : without[k]) = t;
  save_safetensors(dir + "/no-vae.safetensors", without);
  save_safetensors(dir + "/vae.safetensors", vae);
  const auto args = " --config " + test::fixture_path("tiny-sd15") + " --threads 1 --prompt cat --steps 2 --seed 5 --out ";
  ASSERT_EQ(test::run_prtkl("generate --model " + test::fixture_path("tiny-sd15.safetensors") + args + dir + "/whole.png").code,
            0);
  auto r = test::run_prtkl("generate --model " + dir + "/no-vae.safetensors --vae " + dir + "/vae.safetensors" + args + dir +
                     "/with.png");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_image(dir + "/with.png").pixels, read_image(dir + "/whole.png").pixels);
  r = test::run_prtkl("generate --model " + dir + "/no-vae.safetensors" + args + dir + "/none.png");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--vae FILE"), std::string::npos) << r.output;
}

// --threads sizes the compute pools: the process runs with more threads for n = 2 than for n = 1 (counted in /proc
// while it runs; the pools' threads live until exit). Ignored, both would use every core.
TEST(CliGenerate, ThreadsFlagSizesThePool) {
  const auto dir = test::scratch_dir("threads");
  auto peak = [&](int n) {
    const auto cmd = test::prtkl_binary() + " generate --threads " + std::to_string(n) + " --model " +
                     test::fixture_path("tiny-sd15") + " --prompt cat --steps 2 --seed 5 --out " + dir + "/t.png" +
                     " >/dev/null 2>&1 & pid=$!; max=0; while kill -0 $pid 2>/dev/null; do"
                     " n=$(ls /proc/$pid/task 2>/dev/null | wc -l); [ \"$n\" -gt \"$max\" ] && max=$n; sleep 0.005;"
                     " done; wait $pid; echo \"$? $max\"";
    const auto r = test::run_command(cmd);
    int code = -1, threads = 0;
    std::istringstream(r.output) >> code >> threads;
    EXPECT_EQ(code, 0) << r.output;
    return threads;
  };
  const int one = peak(1), two = peak(2);
  EXPECT_GT(two, one) << "threads seen: " << one << " with --threads 1, " << two << " with --threads 2";
}
