#include "models/weights.h"

#include <sstream>

#include "core/error.h"

namespace prtkl {

namespace {
std::string shape_str(c10::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}
}  // namespace

LoadReport load_weights(torch::nn::Module& module, TensorMap tensors, const std::string& source,
                        bool allow_unexpected) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> targets;
  for (const auto& p : module.named_parameters(true)) targets[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) targets[b.key()] = b.value();

  std::vector<std::string> missing;
  for (auto& [name, target] : targets) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      missing.push_back(name);
      continue;
    }
    auto& src = it->second;
    if (src.sizes() != target.sizes())
      fail(source, ": tensor '", name, "' has shape ", shape_str(src.sizes()), " but the config needs ",
           shape_str(target.sizes()), " (config and weights disagree)");
    if (!src.is_floating_point() && target.is_floating_point())
      fail(source, ": tensor '", name, "' has integer dtype ", c10::toString(src.scalar_type()));
    target.copy_(src);
    src = torch::Tensor();
  }
  if (!missing.empty()) {
    std::ostringstream os;
    os << source << ": " << missing.size() << " tensor(s) missing, e.g. '" << missing.front() << "'";
    throw Error(os.str());
  }
  LoadReport report;
  for (const auto& [name, _] : tensors)
    if (!targets.count(name)) report.unexpected.push_back(name);
  if (!report.unexpected.empty() && !allow_unexpected)
    fail(source, ": ", report.unexpected.size(), " unexpected tensor(s), e.g. '", report.unexpected.front(), "'");
  return report;
}

LoadReport load_weights_file(torch::nn::Module& module, const std::string& path, bool allow_unexpected) {
  auto st = SafeTensors::open(path);
  return load_weights(module, st.all(), path, allow_unexpected);
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true)) n += p.numel();
  return n;
}

}  // namespace prtkl
