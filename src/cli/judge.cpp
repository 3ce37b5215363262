// `prtkl judge --judge FILE IMAGE...`: what a judge file (eval/judge.h) names each picture, with its probability.
// The committed judges are models/recipe/judge.safetensors (the evaluation concepts) and
// models/recipe/style_judge.safetensors (the looks); page_fidelity.mjs uses it to read the page's canvas as the
// judge reads the PNG.
#include <iomanip>
#include <iostream>

#include "cli/subcommand.h"
#include "core/image.h"
#include "core/json_config.h"
#include "eval/judge.h"

namespace prtkl::cli {

namespace {

struct Args {
  std::string judge;
  std::vector<std::string> images;
  bool json = false;
};

void run(const Args& a) {
  const auto judge = load_saved_judge(a.judge);
  for (const auto& path : a.images) {
    const auto p = class_probabilities(judge, image_tensor(read_image(path)).unsqueeze(0))[0];
    const auto best = p.argmax().item<int64_t>();
    const auto& label = judge.labels.at(static_cast<size_t>(best));
    const auto probability = p[best].item<double>();
    if (a.json)
      std::cout << Json{{"image", path}, {"label", label}, {"probability", probability}}.dump() << "\n";
    else
      std::cout << path << "\t" << label << "\t" << std::fixed << std::setprecision(3) << probability << "\n";
  }
}

RegisterSubcommand reg("judge", [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("judge", "Name pictures with a judge file (the concept or style judge)");
  sub->add_option("--judge", a->judge, "a judge file, e.g. models/recipe/judge.safetensors")->required();
  sub->add_option("images", a->images, "PNG files")->required();
  sub->add_flag("--json", a->json, "one JSON object a line: image, label, probability");
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
