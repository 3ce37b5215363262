#include "core/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/cpu_features.h"

namespace prtkl {

std::string openblas_core() {
  using CoreName = char* (*)();
  const auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (!name || !name()) return "";
  std::string core = name();
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char c) { return std::tolower(c); });
  return core;
}

std::string best_openblas_core() {
  if (cpu_features().avx512) return "SkylakeX";
  if (cpu_features().avx2_fma) return "Haswell";
  return "";
}

void use_the_cpus_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;
  const auto core = openblas_core();
  // The kernels of OpenBLAS's pre-AVX2 targets, which it falls back to for a CPU model it does not know.
  static const char* const generic[] = {"prescott", "core2",      "nehalem",   "penryn", "dunnington",  "atom",
                                        "katmai",   "coppermine", "northwood", "banias", "sandybridge", "barcelona"};
  if (std::find(std::begin(generic), std::end(generic), core) == std::end(generic)) return;
  const auto best = best_openblas_core();
  if (best.empty()) return;
  setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // the exec failed: carry on with the kernels loaded
}

}  // namespace prtkl
