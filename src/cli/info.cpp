// `prtkl info MODEL`: family, layout, components, dtypes and parameter counts, from headers only.
#include <iomanip>
#include <iostream>

#include "cli/subcommand.h"
#include "diffusion/model_loader.h"

namespace prtkl::cli {

namespace {

void run(const std::string& path, bool json) {
  const auto info = inspect_model(path);
  if (json) {
    Json j{{"path", info.path}, {"family", family_name(info.family)}, {"format", info.format}};
    for (const auto& c : info.components)
      j["components"][c.name] = {{"class", c.class_name}, {"files", c.files}, {"dtypes", c.dtypes},
                                 {"parameters", c.parameters}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "model:  " << info.path << "\nfamily: " << (info.family == ModelFamily::SDXL ? "SDXL" : "SD 1.x")
            << "\nformat: " << info.format << "\n";
  int64_t total = 0;
  for (const auto& c : info.components) {
    std::string dtypes;
    for (const auto& [d, n] : c.dtypes) dtypes += (dtypes.empty() ? "" : ", ") + d + " x" + std::to_string(n);
    std::cout << "  " << std::left << std::setw(15) << c.name << std::setw(30) << c.class_name << std::right
              << std::setw(14) << c.parameters << " params  " << dtypes << "\n";
    total += c.parameters;
  }
  std::cout << "  total " << total << " parameters\n";
}

RegisterSubcommand reg("info", [](CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("info", "Describe a model: family, format, components, dtypes, parameter counts");
  sub->add_option("model", *path, "diffusers folder or single-file checkpoint")->required();
  sub->add_flag("--json", *json, "print JSON");
  sub->callback([path, json] { run(*path, *json); });
});

}  // namespace

}  // namespace prtkl::cli
