// Image -> particle set. Particles sit on the drawing (everything but the paper it is drawn on, see foreground.h),
// evenly spaced on a hexagonal lattice aligned with the image's pixels, each with the colour under it (a cell's mean
// where cells span several pixels), so the browser draws a faithful "pixel image" from a few thousand dots. Density
// is even: colour, not crowding, carries the tone. The same image, count and seed give the same set.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image.h"

namespace prtkl {

struct Particle {
  float x, y;                  // source-image pixels, (0,0) top left; inside [0,width) x [0,height)
  std::array<uint8_t, 3> rgb;  // colour of the drawing under it
  float size;                  // diameter in source-image pixels: the disc around the particle's cell
};

struct ParticleSet {
  int width = 0, height = 0;          // the source image
  std::array<uint8_t, 3> background;  // the paper's colour, from the border
  uint64_t seed = 0;
  // In blue-noise order (the seed picks it): any prefix is an evenly spread subset, so a slow client may draw fewer.
  std::vector<Particle> particles;
};

struct ParticleOptions {
  // At least this many (a lattice fills the drawing: its rows add a few more, about 1 % at most), unless the drawing
  // is a speck (at most about 74 a pixel); an image that matches its background everywhere yields none.
  int count = 8000;
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
