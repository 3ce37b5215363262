// A style: the LoRA + embeddings pair of one `prtkl train --preset ready` run (pivotal tuning), kept as a folder
// styles/NAME/ (docs/styles.md):
//
//   styles/NAME/style.json        optional; every field optional:
//     {"lora": "prtkl.safetensors", "lora_scale": 1.0, "embeddings": "prtkl_emb.safetensors",
//      "prompt": "<s0><s1>, {prompt}", "description": ""}
//   styles/NAME/prtkl.safetensors, prtkl_emb.safetensors   the run folder's kohya LoRA and token rows
//
// "" for "lora" or "embeddings" means the style has none. The default prompt is the trainer's caption form: a
// pivotal run writes its captions as "TOK, caption" with TOK expanded to <s0><s1> (src/train/dataset.cpp,
// train_config.cpp), so a prompt in the style is "<s0><s1>, prompt".
//
// Styles are looked up in the model's own folder (<model>/styles/, the bundled styles) and then in the models
// folder ($PRTKL_MODELS/styles/, a user's own); the first folder of a name wins. The name "none" means no style.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace prtkl {

struct Style {
  std::string name;  // the folder's name
  std::string dir;
  std::string lora;  // path; empty: the style has no LoRA
  double lora_scale = 1.0;
  std::string embeddings;  // path; empty: no embeddings
  std::string prompt_template = "<s0><s1>, {prompt}";
  std::string description;

  std::string wrap(const std::string& prompt) const;  // fill_prompt_template(prompt_template, prompt)
  std::string lora_spec() const;                      // "FILE:scale", as --lora takes it
};

inline constexpr const char* kNoStyle = "none";

// `prompt_template` with its {prompt} replaced by `prompt`; fails when the template has no {prompt}.
std::string fill_prompt_template(const std::string& prompt_template, const std::string& prompt);

// Reads the style folder `dir`; errors name the folder or style.json and the field, or the missing file.
Style read_style(const std::string& dir);

// The folders styles are looked up in for the model at `model_path`: <model>/styles/ (a model folder only), then
// the models folder's styles/.
std::vector<std::string> style_roots(const std::string& model_path);

// Every style folder under style_roots(model_path), by name, the first of a name only, sorted within a root.
struct StyleFolder {
  std::string name, dir;
};
std::vector<StyleFolder> find_style_folders(const std::string& model_path);

// `name_or_path`: "none" or "" (no style: nullopt), a name among find_style_folders(model_path), or the path of a
// style folder. Anything else fails naming the style and the known ones.
std::optional<Style> resolve_style(const std::string& name_or_path, const std::string& model_path);

// The styles a served model offers, and the one a request that names none is drawn in.
struct StyleCatalog {
  std::vector<Style> styles;
  std::string default_name = kNoStyle;

  // "" (the default), "none" (nullptr) or a style's name; otherwise fails naming it and the known ones.
  const Style* find(const std::string& name) const;
  std::vector<std::string> names() const;  // "none" first, then the styles
};

// find_style_folders' styles that read without error, plus `chosen` when it is a folder found elsewhere (a path),
// with `chosen` (or "none") as the default. Unreadable folders are skipped with a line in `warnings`.
StyleCatalog load_style_catalog(const std::string& model_path, const std::optional<Style>& chosen,
                                std::vector<std::string>& warnings);

}  // namespace prtkl
