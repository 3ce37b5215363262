// Pivotal tuning's new tokens: <s0>… are added through the embedding loader (the path inference takes), initialised
// from a concept's token rows or at random at the table's scale, and their rows become trainable leaves in place
// of the token table's last rows: the only trainable part of the text encoders.
#pragma once
#include <torch/torch.h>

#include <string>

#include "diffusion/model_loader.h"
#include "train/train_config.h"

namespace prtkl {

struct PivotalRows {
  torch::Tensor clip_l, clip_g;  // [tokens, D], fp32, requires grad; clip_g only for SDXL
};

// Adds c.tokens_per_abstraction tokens to every text encoder of `model`; the initial rows are written to
// `init_file` (kept there for the record, or removed when `keep_init_file` is false).
PivotalRows add_pivotal_rows(StableDiffusionModel& model, const TrainConfig& c, const std::string& init_file,
                             bool keep_init_file);

}  // namespace prtkl
