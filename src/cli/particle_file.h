// An image's particle set written to a file, as `prtkl particles` and `prtkl generate --particles` write it.
#pragma once
#include <cstdint>
#include <string>

#include "core/image.h"

namespace prtkl::cli {

// `format`: "json", "bin" or "" (bin for a .bin file, else json). Returns "<path>: N particles from WxH".
std::string write_particle_file(const Image& image, const std::string& path, int count, uint64_t seed,
                                std::string format = "");

}  // namespace prtkl::cli
