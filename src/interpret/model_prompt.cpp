#include "interpret/model_prompt.h"

#include <filesystem>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "core/strings.h"
#include "interpret/sanitize.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

// Bump when assemble() changes its output for the same fields.
constexpr const char* kAssemblyVersion = "prompt-v1";

void check_one_line(const std::string& value, const std::string& source, const char* field) {
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7F) fail(source, ": field '", field, "' must be one line without control characters");
}

}  // namespace

void SamplingDefaults::fill(std::string& sampler_flag, int64_t& steps_flag, double& cfg_flag) const {
  if (sampler_flag.empty()) sampler_flag = sampler;
  if (steps_flag == 0) steps_flag = steps;
  if (cfg_flag < 0) cfg_flag = cfg;
}

std::string ModelPrompt::assemble(const std::string& scene) const {
  std::string text = template_text;
  const std::pair<const char*, const std::string*> fields[] = {
      {"{trigger}", &trigger}, {"{scene}", &scene}, {"{style}", &style_suffix}};
  for (const auto& [key, value] : fields)
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value->size()))
      text.replace(at, std::string(key).size(), *value);
  // An empty trigger or style leaves ", ," behind; rebuild the list without empty parts.
  std::string out;
  std::istringstream parts(text);
  for (std::string part; std::getline(parts, part, ',');) {
    part = std::regex_replace(trim(part), std::regex(" {2,}"), " ");
    if (!part.empty()) out += (out.empty() ? "" : ", ") + part;
  }
  return out;
}

std::string ModelPrompt::version() const {
  std::string all = std::string(kAssemblyVersion) + "\n" + trigger + "\n" + template_text + "\n" + style_suffix + "\n" +
                    negative_prompt + "\n";
  for (const auto& c : concepts) all += c + "\n";
  if (inventory) all += inventory->hash() + "\n";
  return content_hash(all);
}

ModelPrompt parse_model_prompt(const Json& json, const std::string& source) {
  if (!json.is_object()) fail(source, ": expected a JSON object");
  const Config cfg(json, source);
  ModelPrompt p;
  p.source = source;
  p.trigger = cfg.get_or<std::string>("trigger", p.trigger);
  p.template_text = cfg.get_or<std::string>("template", p.template_text);
  p.style_suffix = cfg.get_or<std::string>("style_suffix", p.style_suffix);
  p.negative_prompt = cfg.get_or<std::string>("negative_prompt", p.negative_prompt);
  p.concepts = cfg.get_or<std::vector<std::string>>("concepts", {});
  p.default_style = cfg.get_or<std::string>("default_style", "");
  if (cfg.has("sampling")) {
    const auto& s = json.at("sampling");
    if (!s.is_object()) fail(source, ": field 'sampling' must be an object {\"sampler\", \"steps\", \"cfg\"}");
    const Config sc(s, source + " field 'sampling'");
    p.sampling.sampler = sc.get_or<std::string>("sampler", p.sampling.sampler);
    p.sampling.steps = sc.get_or<int64_t>("steps", p.sampling.steps);
    p.sampling.cfg = sc.get_or<double>("cfg", p.sampling.cfg);
    p.sampling.lora = sc.get_or<std::string>("lora", "");
    check_one_line(p.sampling.lora, source, "sampling.lora");
    if (p.sampling.sampler.empty()) fail(source, ": field 'sampling.sampler' is empty");
    if (p.sampling.steps < 1) fail(source, ": field 'sampling.steps' must be at least 1");
    if (!(p.sampling.cfg >= 0 && p.sampling.cfg <= 100)) fail(source, ": field 'sampling.cfg' must be in [0, 100]");
  }
  check_one_line(p.trigger, source, "trigger");
  check_one_line(p.template_text, source, "template");
  check_one_line(p.style_suffix, source, "style_suffix");
  check_one_line(p.negative_prompt, source, "negative_prompt");
  check_one_line(p.default_style, source, "default_style");
  if (p.template_text.find("{scene}") == std::string::npos) fail(source, ": field 'template' has no {scene}");
  static const std::regex placeholder(R"(\{[^}]*\})");
  for (std::sregex_iterator it(p.template_text.begin(), p.template_text.end(), placeholder), end; it != end; ++it) {
    const auto name = it->str();
    if (name != "{trigger}" && name != "{scene}" && name != "{style}")
      fail(source, ": field 'template' has unknown placeholder ", name, " (use {trigger}, {scene}, {style})");
  }
  for (size_t i = 0; i < p.concepts.size(); ++i) {
    try {
      p.concepts[i] = sanitize_scene(p.concepts[i]);
    } catch (const Error& e) {
      fail(source, ": field 'concepts' entry ", i, " is not a plain scene: ", e.what());
    }
  }
  if (cfg.has("inventory")) {
    if (cfg.has("concepts"))
      fail(source, ": give 'concepts' or 'inventory', not both (the inventory has the concepts)");
    // Relative to the model folder, where prtkl.json lives.
    const auto path = (fs::path(source).parent_path() / cfg.get<std::string>("inventory")).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail(source, ": field 'inventory': ", path, " not found");
    p.inventory = std::make_shared<const Inventory>(Inventory::load(path));
    p.concepts = p.inventory->captions();
  }
  return p;
}

ModelPrompt load_model_prompt(const std::string& model_path) {
  if (model_path.empty()) return {};
  std::error_code ec;
  const fs::path model(model_path);
  if (!fs::exists(model, ec)) fail("model not found: ", model_path);
  const fs::path file = fs::is_directory(model, ec) ? model / "prtkl.json"
                                                    : model.parent_path() / (model.stem().string() + ".prtkl.json");
  ModelPrompt p;
  if (fs::is_regular_file(file, ec)) p = parse_model_prompt(read_json_file(file.string()), file.string());
  if (!p.sampling.lora.empty()) {  // relative to prtkl.json, and there
    p.sampling.lora = (file.parent_path() / p.sampling.lora).lexically_normal().string();
    if (!fs::is_regular_file(p.sampling.lora, ec))
      fail(file.string(), ": field 'sampling.lora': no file ", p.sampling.lora);
  }
  p.model_id = fs::weakly_canonical(model, ec).string();
  if (ec) p.model_id = model_path;
  return p;
}

}  // namespace prtkl
