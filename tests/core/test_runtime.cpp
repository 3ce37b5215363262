// Thread settings reach every pool that computes: libtorch's and OpenBLAS's (which libtorch's matmuls call).
#include <gtest/gtest.h>

#include "core/runtime.h"
#include "support/fixtures.h"

using namespace prtkl;

TEST(Runtime, SetThreadsReachesTorchAndOpenBlas) {
  set_threads(1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  if (blas_threads() == 0) {  // make deps installs OpenBLAS: under CI its absence is a failure, not a skip
    if (test::on_ci()) FAIL() << "the BLAS libtorch calls is not OpenBLAS (libopenblas0-pthread)";
    GTEST_SKIP() << "the BLAS libtorch calls here is not OpenBLAS";
  }
  EXPECT_EQ(blas_threads(), 1);
  set_threads(2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  EXPECT_EQ(blas_threads(), 2);
}
