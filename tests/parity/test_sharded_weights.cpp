// Components stored as shards with a `<weights>.index.json` (how large diffusers and transformers checkpoints
// ship) load to exactly the tensors of the single file; a missing shard is an error naming it.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"
#include "diffusion/model_loader.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// Splits dir/<file> into two shards (keys alternating) with the index diffusers' save_pretrained writes.
void shard(const fs::path& dir, const std::string& file) {
  const auto st = SafeTensors::open((dir / file).string());
  const std::string stem = file.substr(0, file.size() - 12);  // without ".safetensors"
  TensorMap parts[2];
  Json weight_map = Json::object();
  for (size_t i = 0; i < st.names().size(); ++i) {
    const auto& name = st.names()[i];
    const auto shard_file = stem + "-0000" + std::to_string(i % 2 + 1) + "-of-00002.safetensors";
    parts[i % 2][name] = st.get(name).clone();
    weight_map[name] = shard_file;
  }
  for (int k = 0; k < 2; ++k)
    save_safetensors((dir / (stem + "-0000" + std::to_string(k + 1) + "-of-00002.safetensors")).string(), parts[k]);
  write_file_atomic((dir / (file + ".index.json")).string(),
                    Json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump(2));
  fs::remove(dir / file);
}

void expect_same(torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
  auto pb = b.named_parameters(true);
  size_t n = 0;
  for (const auto& p : a.named_parameters(true)) {
    ASSERT_TRUE(torch::equal(p.value(), pb[p.key()])) << what << "." << p.key();
    ++n;
  }
  EXPECT_EQ(n, pb.size()) << what;
}

}  // namespace

TEST(ShardedWeights, IndexJsonShardsLoadAsTheSingleFile) {
  torch::set_num_threads(1);
  const auto dir = fs::path(test::scratch_dir("sharded")) / "tiny-sd15";
  fs::copy(test::fixture_path("tiny-sd15"), dir, fs::copy_options::recursive);
  for (const auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  shard(dir / "unet", "diffusion_pytorch_model.safetensors");
  shard(dir / "text_encoder", "model.safetensors");

  auto sharded = load_model(dir.string());
  auto plain = load_model(test::fixture_path("tiny-sd15"));
  expect_same(*sharded.unet, *plain.unet, "unet");
  expect_same(*sharded.text_encoder, *plain.text_encoder, "text_encoder");

  fs::remove(dir / "unet/diffusion_pytorch_model-00002-of-00002.safetensors");
  try {
    load_model(dir.string());
    FAIL() << "a missing shard must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("00002-of-00002"), std::string::npos) << e.what();
  }
}
