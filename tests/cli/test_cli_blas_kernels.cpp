// The prtkl binary runs OpenBLAS's kernels for this CPU, not the generic ones OpenBLAS 0.3.21 falls back to for a
// CPU model it does not know (src/core/blas_kernels.h): OpenBLAS prints the core it loads with OPENBLAS_VERBOSE=2,
// once per load, so a re-executed process shows the generic core and then the CPU's.
#include <gtest/gtest.h>

#include <regex>

#include "core/blas_kernels.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

std::vector<std::string> loaded_cores(const std::string& output) {
  std::vector<std::string> cores;
  const std::regex line(R"(Core: (\w+))");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), line); it != std::sregex_iterator(); ++it)
    cores.push_back((*it)[1]);
  return cores;
}

}  // namespace

TEST(CliBlasKernels, GenericKernelsAreReplacedByTheCpusOwn) {
  const auto r = test::run_prtkl("--version", "env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto cores = loaded_cores(r.output);
  if (cores.empty()) GTEST_SKIP() << "the BLAS is not OpenBLAS (it printed no core)";
  const auto best = best_openblas_core();
  const std::string first = cores.front();
  const bool generic = first == "Prescott" || first == "Core2" || first == "Nehalem" || first == "Penryn";
  if (!generic || best.empty()) {
    EXPECT_EQ(cores.size(), 1u) << "OpenBLAS chose " << first << " itself: nothing to change\n" << r.output;
    return;
  }
  ASSERT_EQ(cores.size(), 2u) << "generic " << first << " kernels kept on a CPU with " << best << "\n" << r.output;
  EXPECT_EQ(cores.back(), best);
}

TEST(CliBlasKernels, AnEnvironmentsCoreTypeIsKept) {
  const auto r = test::run_prtkl("--version", "OPENBLAS_CORETYPE=Haswell OPENBLAS_VERBOSE=2");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto cores = loaded_cores(r.output);
  if (cores.empty()) GTEST_SKIP() << "the BLAS is not OpenBLAS (it printed no core)";
  EXPECT_EQ(cores, std::vector<std::string>{"Haswell"}) << r.output;
}
