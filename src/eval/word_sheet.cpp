#include "eval/word_sheet.h"

#include "core/error.h"
#include "core/picture_sheet.h"
#include "core/text_render.h"
#include "diffusion/pipeline.h"

namespace prtkl {

Image render_word_sheet(StableDiffusionModel& model, Interpreter& interpreter, const std::vector<std::string>& words,
                        const WordSheetOptions& o, std::vector<WordSheetEntry>& entries,
                        const std::function<void(size_t, size_t)>& on_word) {
  if (words.empty()) fail("contact sheet: no words");
  if (o.columns < 1 || o.cell < 16) fail("contact sheet: columns must be >= 1 and cells >= 16 pixels");
  StableDiffusionPipeline pipe(model);
  const int line = text_height() + 3, pad = 4;
  const int cell_w = o.cell + 2 * pad, cell_h = o.cell + pad + 2 * line + pad;
  const int cols = std::min<int>(o.columns, static_cast<int>(words.size()));
  const int rows = static_cast<int>((words.size() + cols - 1) / cols);
  PictureSheet sheet(cols, rows, cell_w, cell_h, 255);
  for (size_t i = 0; i < words.size(); ++i) {
    const auto meaning = interpreter.interpret(words[i]);
    GenerateParams p;
    p.prompt = meaning.prompt;
    p.negative_prompt = meaning.negative_prompt;
    p.steps = o.steps;
    p.guidance_scale = o.guidance_scale;
    p.sampler = o.sampler;
    p.seed = o.seed + i;
    const auto picture = to_images(pipe.generate(pipe.resolve(p)).images)[0];
    entries.push_back({words[i], meaning.scene, meaning.prompt});

    const int x0 = sheet.cell_x(static_cast<int>(i % cols)) + pad, y0 = sheet.cell_y(static_cast<int>(i / cols)) + pad;
    sheet.paste(picture, x0, y0, o.cell, o.cell);
    draw_text(sheet.image(), x0, y0 + o.cell + 3, fit_text(words[i], o.cell), {20, 20, 20});
    draw_text(sheet.image(), x0, y0 + o.cell + 3 + line, fit_text("-> " + meaning.scene, o.cell), {110, 110, 110});
    if (on_word) on_word(i + 1, words.size());
  }
  return sheet.image();
}

}  // namespace prtkl
