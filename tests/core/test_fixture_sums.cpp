// The reference fixtures are the files their README describes: every file listed in SHA256SUMS has its hash, once
// per test run, so a fixture edited or truncated by accident fails here instead of shifting a tolerance elsewhere.
#include <gtest/gtest.h>

#include "support/fixtures.h"

TEST(Fixtures, Sha256SumsHold) {
  if (prtkl::test::run_command("command -v sha256sum").code != 0) PRTKL_SKIP_OR_FAIL_ON_CI("sha256sum is not installed");
  const auto r = prtkl::test::run_command("cd '" + prtkl::test::fixtures_dir() + "' && sha256sum --check --quiet SHA256SUMS");
  EXPECT_EQ(r.code, 0) << r.output;
}
