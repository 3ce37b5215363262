// Access to ../shared/fixtures and their reference tensors, and the comparison rule of its README:
// max |actual - reference| <= suggested_atol (integer tensors exactly).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "core/json_config.h"
#include "core/safetensors.h"

namespace prtkl::test {

std::string fixtures_dir();                            // $PRTKL_FIXTURES or the configured ../shared/fixtures
std::string fixture_path(const std::string& rel);      // fixtures_dir() + "/" + rel
std::string source_dir();                              // the repository root
std::string prtkl_binary();                            // $PRTKL_BIN (set by CTest) or build/prtkl
std::string scratch_dir(const std::string& name);      // a fresh, empty folder for one test
// One column of a CSV file with a header line (a run's loss.csv: step, loss, lr, ...), a cell a row.
std::vector<std::string> csv_column(const std::string& path, int column);
// The message of the prtkl::Error that `f` throws; "" when it throws none.
std::string error_of(const std::function<void()>& f);

class Reference {
 public:
  // model: "tiny-sd15", "tiny-sdxl", "tiny-qwen2" or "optimizers".
  explicit Reference(const std::string& model);
  const Json& header() const { return header_; }
  bool contains(const std::string& name) const { return st_.contains(name); }
  torch::Tensor get(const std::string& name) const;
  // suggested_atol, or 0 for exact tensors.
  double atol(const std::string& name) const;
  ::testing::AssertionResult matches(const std::string& name, const torch::Tensor& actual) const;
  // ||actual - reference|| / ||reference|| <= rtol. Beside `matches` for tensors whose atol floor comes near
  // their own size (small gradients), where a zero tensor would pass the absolute check.
  ::testing::AssertionResult matches_in_norm(const std::string& name, const torch::Tensor& actual, double rtol) const;

 private:
  SafeTensors st_;
  Json header_;
};

// CI=true in the environment: a missing binary, fixture or tool fails there instead of skipping, so a check that
// never ran cannot pass unnoticed.
bool on_ci();

// Runs a shell command, returns its exit code and (stdout+stderr).
struct CommandResult {
  int code;
  std::string output;
};
CommandResult run_command(const std::string& command);
// run_command of the prtkl binary with `args`; `env` ("NAME=value ...") goes in front when given.
CommandResult run_prtkl(const std::string& args, const std::string& env = "");

}  // namespace prtkl::test

// Skips the test, or fails it on CI (test::on_ci()).
#define PRTKL_SKIP_OR_FAIL_ON_CI(message)                     \
  do {                                                        \
    if (::prtkl::test::on_ci()) FAIL() << message;            \
    GTEST_SKIP() << message;                                  \
  } while (0)

#define EXPECT_MATCHES(ref, name, actual) EXPECT_TRUE((ref).matches((name), (actual)))
#define EXPECT_MATCHES_IN_NORM(ref, name, actual, rtol) EXPECT_TRUE((ref).matches_in_norm((name), (actual), (rtol)))
// A gradient within its absolute atol and, since that atol can come near a small gradient's own size (a zero
// gradient passed it for 2 tensors of tiny-sdxl), within 1e-3 of its norm.
#define EXPECT_GRAD_MATCHES(ref, name, grad)     \
  do {                                           \
    EXPECT_MATCHES(ref, name, grad);             \
    EXPECT_MATCHES_IN_NORM(ref, name, grad, 1e-3); \
  } while (0)
