// Thread settings reach every pool that computes: libtorch's and OpenBLAS's (which libtorch's matmuls call).
#include <gtest/gtest.h>

#include "core/runtime.h"
#include "support/fixtures.h"

using namespace prtkl;

TEST(Runtime, SetThreadsReachesTorchAndOpenBlas) {
  set_threads(1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  if (blas_threads() == 0) {  // make deps installs OpenBLAS: under CI its absence is a failure, not a skip
    if (test::on_ci()) FAIL() << "the BLAS libtorch calls is not OpenBLAS (libopenblas0-pthread)";
    GTEST_SKIP() << "the BLAS libtorch calls here is not OpenBLAS";
  }
  EXPECT_EQ(blas_threads(), 1);
  set_threads(2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_EQ(blas_threads(), 2);
}

// --threads' default follows the model: one thread for the bundled model (and the tiny fixtures), whose ops are too
// small to share between cores, every core for SD 1.5 and SDXL.
TEST(Runtime, ThreadsFollowTheModelsSize) {
  const auto unet = [](const std::string& path) { return Config::load(path); };
  EXPECT_EQ(threads_for_unet(unet(test::source_dir() + "/models/prtkl-emoji/unet/config.json")), 1);
  EXPECT_EQ(threads_for_unet(unet(test::fixture_path("tiny-sd15/unet/config.json"))), 1);
  EXPECT_EQ(threads_for_unet(unet(test::source_dir() + "/configs/sd15/unet/config.json")), 0);
  EXPECT_EQ(threads_for_unet(unet(test::source_dir() + "/configs/sdxl/unet/config.json")), 0);
  EXPECT_EQ(threads_for_unet(Config(Json::object(), "empty")), 0);  // unknown size: every core
}
