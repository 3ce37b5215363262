#include "adapters/style.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/json_config.h"
#include "diffusion/models_folder.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPromptSlot = "{prompt}";

// A file field of style.json: `fallback` when absent, "" for none; the file must exist.
std::string style_file(const Config& cfg, const fs::path& dir, const char* field, const char* fallback) {
  const auto name = cfg.get_or<std::string>(field, fallback);
  if (name.empty()) return "";
  const auto path = dir / name;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail("style ", dir.string(), ": ", name, " not found (name the file in style.json's \"", field,
         "\", or \"\" for none)");
  return path.string();
}

std::string known_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string fill_prompt_template(const std::string& prompt_template, const std::string& prompt) {
  std::string out = prompt_template;
  const auto at = out.find(kPromptSlot);
  if (at == std::string::npos) fail("the prompt template \"", prompt_template, "\" has no ", kPromptSlot);
  return out.replace(at, std::string(kPromptSlot).size(), prompt);
}

std::string Style::wrap(const std::string& prompt) const { return fill_prompt_template(prompt_template, prompt); }

std::string Style::lora_spec() const {
  std::ostringstream s;
  s << lora << ":" << lora_scale;
  return s.str();
}

Style read_style(const std::string& dir_text) {
  const fs::path dir(dir_text);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("style ", dir_text, ": not a folder");
  const auto json_path = dir / "style.json";
  const Config cfg =
      fs::exists(json_path, ec) ? Config::load(json_path.string()) : Config(Json::object(), json_path.string());
  if (!cfg.json().is_object()) fail(json_path.string(), ": expected a JSON object");
  Style s;
  s.name = fs::absolute(dir).lexically_normal().filename().string();
  if (s.name.empty()) s.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();  // "dir/"
  s.dir = dir.string();
  s.lora = style_file(cfg, dir, "lora", "prtkl.safetensors");
  s.lora_scale = cfg.get_or<double>("lora_scale", s.lora_scale);
  s.embeddings = style_file(cfg, dir, "embeddings", "prtkl_emb.safetensors");
  s.prompt_template = cfg.get_or<std::string>("prompt", s.prompt_template);
  s.description = cfg.get_or<std::string>("description", "");
  if (s.prompt_template.find(kPromptSlot) == std::string::npos)
    fail(json_path.string(), ": field 'prompt' has no {prompt}");
  for (unsigned char c : s.prompt_template)
    if (c < 0x20 || c == 0x7F) fail(json_path.string(), ": field 'prompt' must be one line");
  if (s.name == kNoStyle) fail("style ", dir_text, ": \"none\" is reserved for no style; rename the folder");
  return s;
}

std::vector<std::string> style_roots(const std::string& model_path) {
  std::vector<std::string> roots;
  std::error_code ec;
  if (!model_path.empty() && fs::is_directory(model_path, ec))
    roots.push_back((fs::path(model_path) / "styles").string());
  roots.push_back((fs::path(models_dir()) / "styles").string());
  return roots;
}

std::vector<StyleFolder> find_style_folders(const std::string& model_path) {
  std::vector<StyleFolder> out;
  for (const auto& root : style_roots(model_path)) {
    std::error_code ec;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory(ec)) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& d : dirs) {
      const auto name = d.filename().string();
      const bool taken = std::any_of(out.begin(), out.end(), [&](const StyleFolder& f) { return f.name == name; });
      if (!taken && name != kNoStyle) out.push_back({name, d.string()});
    }
  }
  return out;
}

std::optional<Style> resolve_style(const std::string& name_or_path, const std::string& model_path) {
  if (name_or_path.empty() || name_or_path == kNoStyle) return std::nullopt;
  const auto folders = find_style_folders(model_path);
  for (const auto& f : folders)
    if (f.name == name_or_path) return read_style(f.dir);
  std::error_code ec;
  // A path: anything with a separator, or a folder the name happens to be (not a bare name of the lists).
  if (name_or_path.find('/') != std::string::npos || fs::is_directory(name_or_path, ec))
    return read_style(name_or_path);
  std::vector<std::string> known = {kNoStyle};
  for (const auto& f : folders) known.push_back(f.name);
  fail("unknown style '", name_or_path, "' (known: ", known_list(known), ")");
}

const Style* StyleCatalog::find(const std::string& name) const {
  const auto& wanted = name.empty() ? default_name : name;
  if (wanted == kNoStyle) return nullptr;
  for (const auto& s : styles)
    if (s.name == wanted) return &s;
  fail("unknown style '", wanted, "' (known: ", known_list(names()), ")");
}

std::vector<std::string> StyleCatalog::names() const {
  std::vector<std::string> out = {kNoStyle};
  for (const auto& s : styles) out.push_back(s.name);
  return out;
}

StyleCatalog load_style_catalog(const std::string& model_path, const std::optional<Style>& chosen,
                                std::vector<std::string>& warnings) {
  StyleCatalog catalog;
  for (const auto& f : find_style_folders(model_path)) {
    try {
      catalog.styles.push_back(read_style(f.dir));
    } catch (const Error& e) {
      warnings.push_back(std::string("style skipped: ") + e.what());
    }
  }
  if (!chosen) return catalog;
  catalog.default_name = chosen->name;
  auto same = std::find_if(catalog.styles.begin(), catalog.styles.end(),
                           [&](const Style& s) { return s.name == chosen->name; });
  if (same == catalog.styles.end())
    catalog.styles.push_back(*chosen);
  else
    *same = *chosen;  // a path that shadows a listed name: the chosen folder is what draws
  return catalog;
}

}  // namespace prtkl
