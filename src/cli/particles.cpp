// `prtkl particles IMAGE --out FILE`: sample an image into a particle set (JSON or the browser's binary format);
// `--score` says how faithful the set is to the image, `--render` draws it (docs/particles.md).
#include "particles/particles.h"

#include <iomanip>
#include <iostream>

#include "cli/particle_file.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "particles/score.h"

namespace prtkl::cli {

namespace {

std::string write_set(const ParticleSet& set, const std::string& path, std::string format) {
  if (format.empty()) format = path.size() > 4 && path.compare(path.size() - 4, 4, ".bin") == 0 ? "bin" : "json";
  if (format != "json" && format != "bin") fail("--format: '", format, "' is not json or bin");
  write_file_atomic(path, format == "bin" ? particles_to_binary(set) : particles_to_json(set));
  return path + ": " + std::to_string(set.particles.size()) + " particles from " + std::to_string(set.width) + "x" +
         std::to_string(set.height);
}

}  // namespace

std::string write_particle_file(const Image& image, const std::string& path, int count, uint64_t seed,
                                std::string format) {
  return write_set(make_particles(image, {count, seed}), path, std::move(format));
}

namespace {

struct Args {
  std::string image, out, format, set, render;
  int count = 8000;
  uint64_t seed = 0;
  bool score = false;
};

void run(const Args& a) {
  if (a.out.empty() && !a.score && a.render.empty()) fail("particles: nothing to do: give --out, --score or --render");
  if (!a.set.empty() && !a.out.empty()) fail("particles: --set reads a set; --out writes one: give one of them");
  const Image image = read_image(a.image);
  const auto set =
      a.set.empty() ? make_particles(image, {a.count, a.seed}) : particles_from_binary(read_file(a.set), a.set);
  if (!a.out.empty()) std::cout << write_set(set, a.out, a.format) << "\n";
  if (!a.render.empty()) {
    const int scale = std::max(1, 4 * kScoreSide / std::max(set.width, set.height));
    write_png(a.render, render_particles(set, scale));
  }
  if (a.score) {
    const ParticleScore s = score_particles(image, set);
    std::cout << std::fixed << std::setprecision(3) << "{\"particles\": " << set.particles.size()
              << ", \"ssim\": " << s.ssim << ", \"colour_error\": " << s.colour_error << ", \"delta_e\": " << s.delta_e
              << ", \"edge_recall\": " << s.edge_recall << "}\n";
  }
}

RegisterSubcommand reg("particles", [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub =
      app.add_subcommand("particles", "Turn an image into a particle set, score or draw it (docs/particles.md)");
  sub->add_option("image", a->image, "PNG or JPEG")->required();
  sub->add_option("--out", a->out, "output file");
  sub->add_option("--count", a->count, "target number of particles (2000-12000 suits the web page)")
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed: the same seed gives the same set")->capture_default_str();
  sub->add_option("--format", a->format, "json or bin (default: bin for a .bin file, else json)");
  sub->add_flag("--score", a->score, "print how faithful the set is to the image (one JSON line)");
  sub->add_option("--set", a->set, "score or draw this particle file (.bin) instead of sampling the image");
  sub->add_option("--render", a->render, "draw the set as discs of its sizes to this PNG");
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
