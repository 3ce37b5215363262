// Thread and dtype settings: threads reach every pool that computes (libtorch's and OpenBLAS's, which libtorch's
// matmuls call); --dtype auto follows the CPU.
#include <gtest/gtest.h>

#include "core/cpu_features.h"
#include "core/error.h"
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

// --threads' default follows the model: in fp32 one thread for the bundled model (and the tiny fixtures), whose ops
// are too small to share between cores, every core for SD 1.5 and SDXL; in bf16 every core for all of them.
TEST(Runtime, ThreadsFollowTheModelsSize) {
  const auto unet = [](const std::string& path) { return Config::load(path); };
  const auto fp32 = torch::kFloat32;
  const auto bundled = unet(test::source_dir() + "/models/prtkl-emoji/unet/config.json");
  EXPECT_EQ(threads_for_unet(bundled, fp32), 1);
  EXPECT_EQ(threads_for_unet(unet(test::fixture_path("tiny-sd15/unet/config.json")), fp32), 1);
  EXPECT_EQ(threads_for_unet(unet(test::source_dir() + "/configs/sd15/unet/config.json"), fp32), 0);
  EXPECT_EQ(threads_for_unet(unet(test::source_dir() + "/configs/sdxl/unet/config.json"), fp32), 0);
  EXPECT_EQ(threads_for_unet(Config(Json::object(), "empty"), fp32), 0);  // unknown size: every core
  EXPECT_EQ(threads_for_unet(bundled, torch::kBFloat16), 0);
}

// --dtype auto: bf16 where the CPU has bfloat16 arithmetic (AVX512-BF16 or AMX), fp32 on other CPUs and on CUDA;
// the named dtypes are themselves, and fp16 needs CUDA.
TEST(Runtime, AutoDtypeFollowsTheCpu) {
  const bool bf16_cpu = cpu_features().avx512_bf16 || cpu_features().amx_bf16;
  EXPECT_EQ(parse_dtype("auto", torch::kCPU), bf16_cpu ? torch::kBFloat16 : torch::kFloat32);
  EXPECT_EQ(auto_dtype(torch::Device(torch::kCUDA)), torch::kFloat32);
  EXPECT_EQ(parse_dtype("fp32", torch::kCPU), torch::kFloat32);
  EXPECT_EQ(parse_dtype("bf16", torch::kCPU), torch::kBFloat16);
  EXPECT_THROW(parse_dtype("fp16", torch::kCPU), Error);
  try {
    parse_dtype("half", torch::kCPU);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("auto, fp32, bf16 or fp16"), std::string::npos) << e.what();
  }
}
