#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file_util.h"
#include "core/safetensors.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

// Writes a file made of an 8-byte length, `header` and `data` (for crafting broken files).
std::string craft(const std::string& dir, const std::string& name, uint64_t header_len, const std::string& header,
                  const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  bytes += header + data;
  const std::string path = dir + "/" + name;
  write_file_atomic(path, bytes);
  return path;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    SafeTensors::open(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "message must name the file: " << e.what();
  }
}

}  // namespace

TEST(SafeTensors, ReadsFixtureWithMetadata) {
  auto st = SafeTensors::open(test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
  EXPECT_GT(st.names().size(), 100u);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  auto w = st.get("conv_in.weight");
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{16, 4, 3, 3}));
  EXPECT_EQ(w.scalar_type(), torch::kFloat32);
}

TEST(SafeTensors, RoundTripsEveryDtype) {
  const auto dir = test::scratch_dir("st");
  TensorMap in;
  in["f32"] = torch::randn({3, 4});
  in["f64"] = torch::randn({2}, torch::kFloat64);
  in["f16"] = torch::randn({5}).to(torch::kFloat16);
  in["bf16"] = torch::randn({2, 2}).to(torch::kBFloat16);
  in["i64"] = torch::arange(7);
  in["i32"] = torch::arange(3, torch::kInt32);
  in["u8"] = torch::arange(9, torch::kUInt8);
  in["scalar"] = torch::tensor(2.5);
  in["empty"] = torch::zeros({0, 3});
  in["strided"] = torch::randn({4, 6}).t();  // non-contiguous input is written contiguously
  save_safetensors(dir + "/a.safetensors", in, {{"rank", "4"}, {"base", "tiny"}});
  auto st = SafeTensors::open(dir + "/a.safetensors");
  EXPECT_EQ(st.metadata().at("rank"), "4");
  ASSERT_EQ(st.names().size(), in.size());
  for (const auto& [name, t] : in) {
    auto back = st.get(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  // The mapping is private: writing to a loaded tensor leaves the file alone.
  st.get("f32").fill_(0);
  EXPECT_TRUE(torch::equal(SafeTensors::open(dir + "/a.safetensors").get("f32"), in["f32"]));
}

TEST(SafeTensors, RejectsBrokenFiles) {
  const auto dir = test::scratch_dir("bad");
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expect_error(craft(dir, "hlen", 1000, ok, std::string(8, 0)), "past the end");
  expect_error(craft(dir, "huge", 1ull << 60, ok, ""), "implausibly large");
  expect_error(craft(dir, "json", 5, "{oops", ""), "not valid JSON");
  expect_error(craft(dir, "trunc", ok.size(), ok, std::string(4, 0)), "outside the data");
  expect_error(craft(dir, "dtype", 58, R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}    )",
                     std::string(8, 0)),
               "unknown dtype");
  expect_error(craft(dir, "size", ok.size(), R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                     std::string(8, 0)),
               "need");
  const std::string overlap =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_error(craft(dir, "overlap", overlap.size(), overlap, std::string(12, 0)), "overlap");
  expect_error(dir + "/missing", "cannot open");
}

TEST(SafeTensors, ShortFileIsAnError) {
  const auto dir = test::scratch_dir("tiny");
  write_file_atomic(dir + "/x", std::string("abc"));
  expect_error(dir + "/x", "too short");
}
