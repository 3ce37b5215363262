// Image -> particle set. Particles sit where the image differs from its background (the colour of its border),
// more of them where the image is darker (further from the background) or more detailed, so the browser can
// assemble a recognisable picture from a few thousand dots. The same image, count and seed give the same set.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.h"

namespace prtkl {

struct Particle {
  float x, y;                  // source-image pixels, (0,0) top left; inside [0,width) x [0,height)
  std::array<uint8_t, 3> rgb;  // colour of the pixel it samples
  float size;                  // diameter in source-image pixels
};

struct ParticleSet {
  int width = 0, height = 0;          // the source image
  std::array<uint8_t, 3> background;  // estimated from the border
  uint64_t seed = 0;
  // Shuffled: any prefix is an evenly spread subset, so a slow client may draw fewer.
  std::vector<Particle> particles;
};

struct ParticleOptions {
  int count = 8000;   // target; an image that matches its background everywhere yields none
  uint64_t seed = 0;
};

constexpr int kMinParticleCount = 100;
constexpr int kMaxParticleCount = 50000;

// Throws prtkl::Error for an empty image or a count outside [kMinParticleCount, kMaxParticleCount].
ParticleSet make_particles(const Image& image, const ParticleOptions& options);

// The formats of docs/particles.md.
std::string particles_to_json(const ParticleSet& set);
std::string particles_to_binary(const ParticleSet& set);
// Inverse of particles_to_binary (quantised); throws prtkl::Error naming `source` on malformed data.
ParticleSet particles_from_binary(const std::string& bytes, const std::string& source);

}  // namespace prtkl
