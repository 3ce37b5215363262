// `prtkl particles IMAGE --out FILE`: sample an image into a particle set (JSON or the browser's binary format).
#include <iostream>

#include "cli/particle_file.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "particles/particles.h"

namespace prtkl::cli {

std::string write_particle_file(const Image& image, const std::string& path, int count, uint64_t seed,
                                std::string format) {
  if (format.empty()) format = path.size() > 4 && path.compare(path.size() - 4, 4, ".bin") == 0 ? "bin" : "json";
  const auto set = make_particles(image, {count, seed});
  write_file_atomic(path, format == "bin" ? particles_to_binary(set) : particles_to_json(set));
  return path + ": " + std::to_string(set.particles.size()) + " particles from " + std::to_string(set.width) + "x" +
         std::to_string(set.height);
}

namespace {

struct Args {
  std::string image, out, format;
  int count = 8000;
  uint64_t seed = 0;
};

void run(const Args& a) {
  if (!a.format.empty() && a.format != "json" && a.format != "bin") fail("--format: '", a.format, "' is not json or bin");
  std::cout << write_particle_file(read_image(a.image), a.out, a.count, a.seed, a.format) << "\n";
}

RegisterSubcommand reg("particles", [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("particles", "Turn an image into a particle set (docs/particles.md)");
  sub->add_option("image", a->image, "PNG or JPEG")->required();
  sub->add_option("--out", a->out, "output file")->required();
  sub->add_option("--count", a->count, "target number of particles (2000-12000 suits the web page)")
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "random seed: the same seed gives the same set")->capture_default_str();
  sub->add_option("--format", a->format, "json or bin (default: bin for a .bin file, else json)");
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
