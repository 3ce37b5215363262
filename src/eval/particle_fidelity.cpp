#include "eval/particle_fidelity.h"

#include "eval/judge.h"
#include "particles/particles.h"
#include "particles/score.h"

namespace prtkl {

ParticleRenders render_particle_sets(const std::vector<Image>& images, uint64_t seed) {
  ParticleRenders out;
  std::vector<torch::Tensor> renders;
  for (const auto& image : images) {
    ParticleOptions options;  // the server's count
    options.seed = seed;
    const auto set = make_particles(image, options);
    renders.push_back(image_tensor(render_particles(set, 1)));
    out.ssim.push_back(score_particles(image, set).ssim);
  }
  out.renders = renders.empty() ? torch::empty({0, 3, 0, 0}) : torch::stack(renders);
  return out;
}

}  // namespace prtkl
