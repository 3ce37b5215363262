// What the page makes of a generated image, for `prtkl eval`: the particle set the server would send for it (the
// sampler's default count, seeded by the generation's seed, as src/server/pipeline_renderer.cpp does), drawn as
// discs of its own sizes at the image's size, and how faithful that set is (particles/score.h). The judge then
// names the renders as it names the images: a concept it recognises in a picture but not in its set is lost on the
// way to the page.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/image.h"

namespace prtkl {

struct ParticleRenders {
  torch::Tensor renders;     // [B,3,H,W] in [0,1]: each image's set as discs over its paper, at the image's size
  std::vector<double> ssim;  // per image: blurred-luminance SSIM of the set against the image (ParticleScore::ssim)
};

ParticleRenders render_particle_sets(const std::vector<Image>& images, uint64_t seed);

}  // namespace prtkl
