// How faithful a particle set is to its image, seen from a viewing distance: the set drawn as discs of its own
// sizes over its background, and the image, both cropped to the drawing's box, resampled to kScoreSide pixels on
// the long side and blurred (Gaussian, kScoreBlur pixels: about the dots' spacing there), then compared. The browser
// test measures the page's canvas by the same recipe (tests/e2e/fidelity.mjs).
#pragma once
#include "core/image.h"
#include "particles/particles.h"

namespace prtkl {

constexpr int kScoreSide = 96;
constexpr double kScoreBlur = 1.5;

struct ParticleScore {
  double ssim = 1;          // mean SSIM (7x7 windows) of the blurred luminance over the drawing's box
  double colour_error = 0;  // mean RGB distance there (0..441)
  double delta_e = 0;       // mean CIE76 colour difference there
  double edge_recall = 1;   // share of the image's colour edges whose gradient is at least half kept
};

// The set as opaque discs of its particles' sizes, in its order, over its background, at `scale` x the image's size.
Image render_particles(const ParticleSet& set, int scale);

// Throws prtkl::Error when the set was made from an image of another size.
ParticleScore score_particles(const Image& image, const ParticleSet& set);

}  // namespace prtkl
