// `prtkl models [--json]`: what the models folder holds (models_folder.h): models with family, layout and dtype,
// LoRAs and embeddings, with their sizes.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/subcommand.h"
#include "core/json_config.h"
#include "diffusion/models_folder.h"

namespace prtkl::cli {

namespace {

std::string megabytes(int64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << bytes / 1048576.0 << " MB";
  return os.str();
}

void run(bool json) {
  const auto dir = models_dir();
  const auto entries = list_models(dir);
  if (json) {
    Json out{{"dir", dir}, {"entries", Json::array()}};
    for (const auto& e : entries) {
      Json j{{"name", e.name}, {"kind", e.kind}, {"path", e.path}, {"layout", e.layout}, {"dtype", e.dtype},
             {"bytes", e.bytes}};
      if (!e.family.empty()) j["family"] = e.family;
      if (!e.error.empty()) j["error"] = e.error;
      out["entries"].push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << "models folder: " << dir << (entries.empty() ? " (empty or missing; set PRTKL_MODELS)" : "") << "\n";
  for (const auto& e : entries) {
    std::cout << "  " << std::left << std::setw(10) << e.kind << std::setw(32) << e.name << std::setw(6) << e.family
              << std::setw(12) << e.layout << std::setw(6) << e.dtype << std::right << std::setw(12)
              << megabytes(e.bytes);
    if (!e.error.empty()) std::cout << "  unreadable: " << e.error;
    std::cout << "\n";
  }
}

RegisterSubcommand reg("models", [](CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("models", "List the models folder ($PRTKL_MODELS): models, LoRAs, embeddings");
  sub->add_flag("--json", *json, "print JSON");
  sub->callback([json] { run(*json); });
});

}  // namespace

}  // namespace prtkl::cli
