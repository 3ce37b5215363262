#include "support/fixtures.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/file_util.h"

namespace prtkl::test {

namespace fs = std::filesystem;

std::string fixtures_dir() {
  if (const char* env = std::getenv("PRTKL_FIXTURES")) return env;
  return PRTKL_FIXTURES_DIR;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string fixture_path(const std::string& rel) { return fixtures_dir() + "/" + rel; }

std::string source_dir() { return PRTKL_SOURCE_DIR; }

std::string prtkl_binary() {
  if (const char* env = std::getenv("PRTKL_BIN")) return env;
  return std::string(PRTKL_BINARY_DIR) + "/prtkl";
}

std::vector<std::string> csv_column(const std::string& path, int column) {
  std::istringstream in(read_file(path));
  std::vector<std::string> cells;
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string cell;
    for (int i = 0; i <= column; ++i)
      if (!std::getline(row, cell, ',')) cell.clear();
    cells.push_back(cell);
  }
  return cells;
}

std::string scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string leaf = name;
  if (info) leaf = std::string(info->test_suite_name()) + "." + info->name() + "." + name;
  fs::path dir = fs::path(PRTKL_BINARY_DIR) / "test-scratch" / leaf;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

namespace {
// reference.json is written by Python's json module, which emits the non-JSON literals -Infinity, Infinity and
// NaN (e.g. lambda_min_clipped); they become null here.
Json read_python_json(const std::string& path) {
  static const std::regex non_finite(R"((:\s*)-?(Infinity|NaN)\b)");
  return Json::parse(std::regex_replace(read_file(path), non_finite, "$1null"));
}
}  // namespace

Reference::Reference(const std::string& model)
    : st_(SafeTensors::open(fixture_path(model + "/reference.safetensors"))),
      header_(read_python_json(fixture_path(model + "/reference.json"))) {}

torch::Tensor Reference::get(const std::string& name) const { return st_.get(name).clone(); }

double Reference::atol(const std::string& name) const {
  const auto& entry = header_.at("tensors").at(name);
  if (entry.contains("suggested_atol")) return entry.at("suggested_atol").get<double>();
  // Float64 trajectories (optimizer fixtures): "compare a float64 implementation with atol 1e-12".
  if (entry.contains("tolerance") && entry.at("tolerance").get<std::string>().rfind("float64", 0) == 0) return 1e-12;
  return 0.0;
}

::testing::AssertionResult Reference::matches(const std::string& name, const torch::Tensor& actual) const {
  if (!st_.contains(name)) return ::testing::AssertionFailure() << "no reference tensor " << name;
  auto ref = get(name);
  auto act = actual.detach().to(torch::kCPU);
  if (ref.sizes() != act.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << act.sizes() << " != reference " << ref.sizes();
  if (!ref.is_floating_point()) {
    auto eq = torch::equal(act.to(ref.scalar_type()), ref);
    if (eq) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << name << ": integers differ\n actual    " << act.flatten()
                                         << "\n reference " << ref.flatten();
  }
  const double tol = atol(name);
  const double diff = (act.to(torch::kFloat64) - ref.to(torch::kFloat64)).abs().max().item<double>();
  if (diff <= tol) return ::testing::AssertionSuccess() << name << ": max diff " << diff;
  return ::testing::AssertionFailure() << name << ": max |diff| " << diff << " > atol " << tol;
}

::testing::AssertionResult Reference::matches_in_norm(const std::string& name, const torch::Tensor& actual,
                                                     double rtol) const {
  if (!st_.contains(name)) return ::testing::AssertionFailure() << "no reference tensor " << name;
  const auto ref = get(name).to(torch::kFloat64);
  const auto act = actual.detach().to(torch::kCPU, torch::kFloat64);
  if (ref.sizes() != act.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << act.sizes() << " != reference " << ref.sizes();
  const double rel = ((act - ref).norm() / ref.norm()).item<double>();
  if (rel <= rtol) return ::testing::AssertionSuccess() << name << ": relative error " << rel;
  return ::testing::AssertionFailure() << name << ": ||diff|| / ||reference|| = " << rel << " > " << rtol;
}

bool on_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

CommandResult run_command(const std::string& command) {
  CommandResult r{-1, ""};
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult run_prtkl(const std::string& args, const std::string& env) {
  return run_command(env + (env.empty() ? "" : " ") + prtkl_binary() + " " + args);
}

}  // namespace prtkl::test
