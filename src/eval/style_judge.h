// The style judge behind `prtkl eval` (style share) and `prtkl curate --auto`: the concept judge's CNN
// (eval/judge.h), trained from its own seed to tell the emoji set's two art styles apart, "glossy" (Noto Color
// Emoji: shading, gradients, highlights) from "flat" (Twemoji: flat fills). It learns the real pictures of both npm
// packages; emoji are split by a hash of their file name, so its held-out accuracy is on emoji it never saw in
// either style. Its labels are the styles' looks in data/emoji_styles.h, the names of the bundled style adapters.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

#include "eval/judge.h"

namespace prtkl {

struct StyleJudgeOptions {
  JudgeOptions judge = default_options();
  int64_t per_style = 2500;   // training pictures of each style (a spread subset of what npm has)
  int held_out_percent = 15;  // of the emoji, in both styles
  // When set, the judge also learns every picture after this round trip ([N,3,H,W] in [0,1] -> the same), e.g. a
  // model's autoencoder: its generations are that decoder's output, softer than npm's pictures, and a judge of raw
  // pictures calls a fifth of the round-tripped Noto pictures flat. `round_trip_id` names it in the cache key.
  std::function<torch::Tensor(const torch::Tensor&)> round_trip;
  std::string round_trip_id;

  static JudgeOptions default_options() {
    JudgeOptions o;
    o.steps = 2500;
    o.seed = 11;  // not the concept judge's
    return o;
  }
};

struct StyleJudgeReport {
  bool reused = false;
  double train_seconds = 0;
  int64_t train_images = 0, held_out_images = 0;
  double train_accuracy = 0, held_out_accuracy = 0;
  double held_out_round_trip_accuracy = -1;  // on the held-out pictures' round trips; -1 without one
};

// The style judge cached at `path` when it was trained on the same pictures with the same options, else trained
// (and saved there). Throws prtkl::Error naming a missing npm package.
Judge prepare_style_judge(const std::string& npm_dir, const std::string& path, const StyleJudgeOptions& options,
                          StyleJudgeReport& report, const std::function<void(const JudgeTrainStep&)>& on_step = {});

// The label index of `look` ("glossy", "flat") in the style judge; throws naming the known looks.
int64_t style_label(const Judge& style_judge, const std::string& look);

}  // namespace prtkl
