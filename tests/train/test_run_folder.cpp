// The run folder's layout in one place (train/run_folder.h): which names are checkpoints, which checkpoint a run
// resumes from, what pruning keeps, and where a sweep finds a checkpoint's embeddings.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fixtures.h"
#include "train/run_folder.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
}

}  // namespace

TEST(RunFolder, CheckpointNamesAreCheckpointDashDigitsOnly) {
  EXPECT_EQ(RunFolder::checkpoint_name(250), "checkpoint-250");
  EXPECT_EQ(RunFolder::checkpoint_step("/run/checkpoint-250"), 250);
  EXPECT_EQ(RunFolder::checkpoint_step("checkpoint-0"), 0);
  for (const char* other : {"checkpoint-", "checkpoint-12.partial", "checkpoint-12.partial-validation",
                            "checkpoint--3", "checkpoint-1e3", "checkpoints-4", "validation", "checkpoint-1234567890123456789"})
    EXPECT_EQ(RunFolder::checkpoint_step(other), -1) << other;
}

TEST(RunFolder, ResumesFromTheNewestCompleteCheckpointAndPrunesTheOldest) {
  const fs::path dir = test::scratch_dir("run_folder_resume");
  const RunFolder run(dir, "style");
  EXPECT_FALSE(run.latest_resumable());
  for (int step : {5, 10, 40}) touch(run.checkpoint(step) / RunFolder::kStateJson);
  touch(run.checkpoint(100) / RunFolder::kLoraFile);  // no state.json: not resumable
  touch(run.partial_checkpoint(200) / RunFolder::kStateJson);
  ASSERT_TRUE(run.latest_resumable());
  EXPECT_EQ(*run.latest_resumable(), run.checkpoint(40));  // by number: 5 < 10 < 40, though "5" > "40" as text

  const auto all = run.checkpoints();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all.front().first, 5);
  EXPECT_EQ(all.back().first, 100);

  run.remove_partial_writes();
  EXPECT_FALSE(fs::exists(run.partial_checkpoint(200)));
  run.keep_newest(2);
  EXPECT_FALSE(fs::exists(run.checkpoint(5)));
  EXPECT_FALSE(fs::exists(run.checkpoint(10)));
  EXPECT_TRUE(fs::exists(run.checkpoint(40)));
  EXPECT_TRUE(fs::exists(run.checkpoint(100)));
  run.keep_newest(0);  // 0 keeps all
  EXPECT_EQ(run.checkpoints().size(), 2u);
}

TEST(RunFolder, FindsTheRunsEmbeddingsByNameElseTheOnlyOne) {
  const fs::path dir = test::scratch_dir("run_folder_embeddings");
  const auto ckpt = dir / "checkpoint-1";
  touch(ckpt / "other_emb.safetensors");
  EXPECT_EQ(RunFolder(dir, "style").embeddings_in(ckpt), ckpt / "other_emb.safetensors");  // the only one
  touch(ckpt / "style_emb.safetensors");
  EXPECT_EQ(RunFolder(dir, "style").embeddings_in(ckpt), ckpt / "style_emb.safetensors");  // by the run's name
  EXPECT_FALSE(RunFolder(dir, "").embeddings_in(ckpt));  // two, and no name to choose by
  EXPECT_EQ(RunFolder(dir, "style").kohya_file(), "style.safetensors");
}
