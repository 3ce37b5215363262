#include "train/validation.h"

#include <algorithm>

#include "core/file_util.h"
#include "core/image.h"
#include "core/json_config.h"
#include "train/run_folder.h"

namespace prtkl {

namespace fs = std::filesystem;

void write_validation_images(StableDiffusionModel& m, const fs::path& dir, const ValidationImages& v) {
  fs::create_directories(dir);
  StableDiffusionPipeline pipe(m);
  Json index = Json::array();
  for (size_t p = 0; p < v.prompts.size(); ++p) {
    for (const auto seed : v.seeds) {
      auto gp = pipe.resolve(v.params(v.prompts[p], seed));
      if (!v.encoded.empty()) gp.encoded = v.encoded[p];
      const auto result = pipe.generate(gp);
      const auto file = "p" + std::to_string(p) + "-s" + std::to_string(seed) + ".png";
      write_png((dir / file).string(), to_images(result.images)[0],
                {{"parameters", a1111_parameters(gp, result.sampler_display_name, m.name)}});
      index.push_back({{"prompt", v.prompts[p]}, {"seed", seed}, {"file", file}, {"steps", gp.steps},
                       {"cfg", gp.guidance_scale}, {"sampler", gp.sampler}, {"width", gp.width},
                       {"height", gp.height}});
    }
  }
  write_file_atomic((dir / RunFolder::kValidationIndex).string(), index.dump(2) + "\n");
}

void write_reconstructions(StableDiffusionModel& m, const std::vector<torch::Tensor>& pictures, const fs::path& dir) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> px(pictures.begin(), pictures.begin() + std::min<size_t>(8, pictures.size()));
  const auto x = torch::stack(px).to(m.device, m.dtype);
  const auto rec = m.vae->decode(m.vae->encode(x).mean).clamp(-1, 1);
  const auto grid = torch::cat({torch::cat(x.unbind(0), 2), torch::cat(rec.unbind(0), 2)}, 1);  // [3, 2H, 8W]
  fs::create_directories(dir);
  const auto hwc = ((grid + 1) / 2).permute({1, 2, 0}).unsqueeze(0).to(torch::kFloat32).cpu();
  write_png((dir / "reconstruction.png").string(), to_images(hwc)[0]);
}

}  // namespace prtkl
