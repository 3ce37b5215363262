// The JSON and binary particle formats; docs/particles.md is their specification.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/json_config.h"
#include "particles/particles.h"

namespace prtkl {

namespace {

constexpr char kMagic[4] = {'P', 'R', 'T', 'K'};
constexpr uint16_t kVersion = 1;
constexpr uint32_t kHeaderBytes = 32;
constexpr float kSizeUnit = 8.0f;  // sizes are stored in 1/8 pixel

double round2(double v) { return std::round(v * 100.0) / 100.0; }

template <typename T>
void put(std::string& s, size_t at, T v) {  // little-endian
  for (size_t k = 0; k < sizeof(T); ++k) s[at + k] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xFF);
}

template <typename T>
T get(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (size_t k = 0; k < sizeof(T); ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[at + k])) << (8 * k);
  return static_cast<T>(v);
}

}  // namespace

std::string particles_to_json(const ParticleSet& set) {
  Json list = Json::array();
  for (const auto& p : set.particles)
    list.push_back({round2(p.x), round2(p.y), p.rgb[0], p.rgb[1], p.rgb[2], round2(p.size)});
  Json j = {{"format", "prtkl.particles"},
            {"version", kVersion},
            {"width", set.width},
            {"height", set.height},
            {"background", set.background},
            {"seed", set.seed},
            {"count", set.particles.size()},
            {"fields", {"x", "y", "r", "g", "b", "size"}},
            {"particles", std::move(list)}};
  return j.dump();
}

std::string particles_to_binary(const ParticleSet& set) {
  const size_t n = set.particles.size();
  std::string s(kHeaderBytes + 8 * n, '\0');
  std::memcpy(s.data(), kMagic, 4);
  put<uint16_t>(s, 4, kVersion);
  put<uint16_t>(s, 6, kHeaderBytes);
  put<uint32_t>(s, 8, static_cast<uint32_t>(n));
  put<uint32_t>(s, 12, static_cast<uint32_t>(set.width));
  put<uint32_t>(s, 16, static_cast<uint32_t>(set.height));
  for (int k = 0; k < 3; ++k) s[20 + k] = static_cast<char>(set.background[k]);
  put<uint64_t>(s, 24, set.seed);
  const size_t pos = kHeaderBytes, col = pos + 4 * n, size = col + 3 * n;
  for (size_t i = 0; i < n; ++i) {
    const Particle& p = set.particles[i];
    auto fixed = [](float v, int extent) {
      return static_cast<uint16_t>(std::clamp(std::floor(v / extent * 65536.0), 0.0, 65535.0));
    };
    put<uint16_t>(s, pos + 4 * i, fixed(p.x, set.width));
    put<uint16_t>(s, pos + 4 * i + 2, fixed(p.y, set.height));
    for (int k = 0; k < 3; ++k) s[col + 3 * i + k] = static_cast<char>(p.rgb[k]);
    // rounded up: a dot drawn smaller than its size would open gaps between dots that tile the drawing
    s[size + i] = static_cast<char>(std::clamp(static_cast<long>(std::ceil(p.size * kSizeUnit)), 1L, 255L));
  }
  return s;
}

ParticleSet particles_from_binary(const std::string& s, const std::string& source) {
  if (s.size() < kHeaderBytes || std::memcmp(s.data(), kMagic, 4) != 0) fail(source, ": not a prtkl particle file");
  if (get<uint16_t>(s, 4) != kVersion) fail(source, ": particle format version ", get<uint16_t>(s, 4), " is not supported");
  const size_t header = get<uint16_t>(s, 6), n = get<uint32_t>(s, 8);
  if (header < kHeaderBytes || s.size() != header + 8 * n)
    fail(source, ": ", s.size(), " bytes, expected ", header, " + 8 x ", n, " particles");
  ParticleSet set;
  set.width = static_cast<int>(get<uint32_t>(s, 12));
  set.height = static_cast<int>(get<uint32_t>(s, 16));
  for (int k = 0; k < 3; ++k) set.background[k] = static_cast<uint8_t>(s[20 + k]);
  set.seed = get<uint64_t>(s, 24);
  const size_t pos = header, col = pos + 4 * n, size = col + 3 * n;
  for (size_t i = 0; i < n; ++i) {
    Particle p;
    p.x = get<uint16_t>(s, pos + 4 * i) / 65536.0f * set.width;
    p.y = get<uint16_t>(s, pos + 4 * i + 2) / 65536.0f * set.height;
    for (int k = 0; k < 3; ++k) p.rgb[k] = static_cast<uint8_t>(s[col + 3 * i + k]);
    p.size = static_cast<uint8_t>(s[size + i]) / kSizeUnit;
    set.particles.push_back(p);
  }
  return set;
}

}  // namespace prtkl
