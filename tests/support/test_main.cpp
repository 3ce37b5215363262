// The test binaries' main: GoogleTest's, after OpenBLAS is given the CPU's kernels as the prtkl binary does
// (src/core/blas_kernels.h): on a CPU it does not know, its generic kernels made every fp32 test run slower.
#include <gtest/gtest.h>

#include "core/blas_kernels.h"

int main(int argc, char** argv) {
  prtkl::use_the_cpus_blas_kernels(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
