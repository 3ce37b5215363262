// The product's promise on the bundled model, end to end: a word is interpreted onto one of the model's concepts,
// drawn in 20 steps and decoded, and the independent judge (trained by `prtkl eval` on the real emoji pictures,
// committed as models/recipe/judge.safetensors) names what it sees. Breaks when the interpreter, the pipeline,
// the bundled weights or the loader stop producing the picture the word asks for.
#include <gtest/gtest.h>

#include "diffusion/model_loader.h"
#include "diffusion/pipeline.h"
#include "eval/judge.h"
#include "interpret/interpreter.h"
#include "interpret/model_prompt.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

Judge committed_judge() {
  const auto path = test::source_dir() + "/models/recipe/judge.safetensors";
  auto judge = load_saved_judge(path);  // whatever pictures it was trained on
  EXPECT_FALSE(judge.net.is_empty()) << path;
  return judge;
}

}  // namespace

TEST(BundledModel, LoveIsDrawnAsAHugThatTheJudgeRecognises) {
  torch::set_num_threads(1);
  const auto model_dir = test::source_dir() + "/models/prtkl-emoji";
  auto interpreter = Interpreter::create({}, load_model_prompt(model_dir));
  const auto meaning = interpreter.interpret("love");
  EXPECT_EQ(meaning.concept, "people hugging");  // the concept's caption

  auto model = load_model(model_dir);
  StableDiffusionPipeline pipe(model);
  GenerateParams p;
  p.prompt = meaning.prompt;
  p.negative_prompt = meaning.negative_prompt;
  p.steps = 20;
  p.guidance_scale = 7;  // what generate and serve use
  p.sampler = "euler";
  p.num_images = 4;
  p.seed = 0;
  const auto images = pipe.generate(pipe.resolve(p)).images.permute({0, 3, 1, 2});  // [4,3,64,64] in [0,1]

  const auto judge = committed_judge();
  const auto labels = classify(judge, images.to(torch::kFloat32));
  int hugs = 0;
  std::string seen;
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const auto& label = judge.labels.at(labels[i].item<int64_t>());
    hugs += label == "people-hugging";
    seen += label + " ";
  }
  EXPECT_GE(hugs, 2) << "the judge saw: " << seen;
}
