// `convert` both ways reproduces the fixture files tensor for tensor (they were written by diffusers' own
// conversion scripts), and a cast to fp16 stores fp16.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file_util.h"
#include "diffusion/convert.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

void expect_same_tensors(const std::string& actual_file, const std::string& expected_file) {
  auto a = SafeTensors::open(actual_file);
  auto e = SafeTensors::open(expected_file);
  ASSERT_EQ(a.names().size(), e.names().size()) << actual_file;
  for (const auto& n : e.names()) {
    ASSERT_TRUE(a.contains(n)) << n;
    ASSERT_TRUE(torch::equal(a.get(n), e.get(n))) << n;
  }
}

class Convert : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Convert, FolderToSingleFileMatchesReferenceConversion) {
  const auto out = test::scratch_dir("conv") + "/m.safetensors";
  convert_model(test::fixture_path(GetParam()), out, "", torch::kFloat32);
  expect_same_tensors(out, test::fixture_path(GetParam() + ".safetensors"));
}

TEST_P(Convert, SingleFileToFolderMatchesReferenceFolder) {
  const auto out = test::scratch_dir("conv") + "/folder";
  convert_model(test::fixture_path(GetParam() + ".safetensors"), out, "", torch::kFloat32);
  std::vector<std::string> parts = {"unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model"};
  if (GetParam() == "tiny-sdxl") parts.push_back("text_encoder_2/model");
  for (const auto& c : parts)
    expect_same_tensors(out + "/" + c + ".safetensors", test::fixture_path(GetParam() + "/" + c + ".safetensors"));
  // The written folder loads again.
  EXPECT_NO_THROW(load_model(out));
}

TEST_P(Convert, CastsToFp16) {
  const auto out = test::scratch_dir("conv") + "/h.safetensors";
  convert_model(test::fixture_path(GetParam()), out, "", torch::kFloat16);
  auto st = SafeTensors::open(out);
  for (const auto& n : st.names()) ASSERT_EQ(st.info(n).dtype, "F16") << n;
  LoadOptions options;
  options.config_dir = test::fixture_path(GetParam());
  auto model = load_model(out, options);
  EXPECT_EQ(model.unet->parameters().front().scalar_type(), torch::kFloat32);
}

TEST(ConvertOutput, RefusesAFolderThatHoldsSomethingAndLeavesItAsItWas) {
  const auto out = test::scratch_dir("conv_busy");
  write_file_atomic(out + "/keep.txt", "mine");
  try {
    convert_model(test::fixture_path("tiny-sd15.safetensors"), out, "", torch::kFloat32);
    ADD_FAILURE() << "converted into a folder that holds a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("convert: " + out + " exists and is not an empty folder"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_file(out + "/keep.txt"), "mine");
  EXPECT_FALSE(std::filesystem::exists(out + "/unet"));
  // An empty folder is a new output.
  const auto empty = test::scratch_dir("conv_empty");
  convert_model(test::fixture_path("tiny-sd15.safetensors"), empty, "", torch::kFloat32);
  EXPECT_TRUE(std::filesystem::exists(empty + "/model_index.json"));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Convert, ::testing::Values("tiny-sd15", "tiny-sdxl"),
                         [](const auto& info) { return info.param == "tiny-sdxl" ? std::string("sdxl") : std::string("sd15"); });
