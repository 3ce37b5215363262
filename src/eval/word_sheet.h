// A contact sheet of words as a person types them: each word goes through the interpreter and the model exactly as
// `prtkl serve` takes it (word -> concept/scene -> prompt -> picture), and the sheet shows the picture with the
// word and what it became underneath. docs/eval/words.png is this sheet for the bundled model.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/image.h"
#include "diffusion/model_loader.h"
#include "interpret/interpreter.h"

namespace prtkl {

struct WordSheetOptions {
  int64_t steps = 20;
  double guidance_scale = 4.0;
  std::string sampler = "euler";
  uint64_t seed = 0;  // word i uses seed + i
  int columns = 8;
  int cell = 128;  // side of each picture on the sheet (nearest-neighbour enlargement)
};

struct WordSheetEntry {
  std::string word, scene, prompt;
};

// One row of the sheet per `columns` words; `on_word` is called after each word (progress).
Image render_word_sheet(StableDiffusionModel& model, Interpreter& interpreter, const std::vector<std::string>& words,
                        const WordSheetOptions& options, std::vector<WordSheetEntry>& entries,
                        const std::function<void(size_t done, size_t total)>& on_word = {});

}  // namespace prtkl
