// How a model wants its prompt: read from prtkl.json beside the weights (docs/prtkl-json.md).
//
//   {
//     "trigger": "prtkl",                          // trigger word or embedding tokens ("<s0><s1>"); "" for none
//     "template": "{trigger}, {scene}, {style}",   // {scene} required; {trigger} and {style} optional
//     "style_suffix": "white background",          // style words appended through {style}
//     "negative_prompt": "text, blurry",           // default negative prompt
//     "concepts": ["a bird", "two people hugging"] // optional: what the model can draw; words map onto these
//     "inventory": "concepts.json"                 // optional, instead of concepts: captions and CLDR keywords
//     "default_style": "flat"                      // optional: the style (styles/NAME) drawn with no --style
//   }
//
// Every field is optional; a model without the file gets the defaults below. The file lives in the model folder
// (<folder>/prtkl.json) or, for a single-file checkpoint, beside it as <name>.prtkl.json.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/json_config.h"
#include "interpret/inventory.h"

namespace prtkl {

// How a model draws when a command is not told (prtkl.json "sampling": {"sampler", "steps", "cfg", "lora"}): a
// model that draws well in few steps says so here, and generate, serve, worker and eval use it for every flag not
// given. "lora" (a file beside prtkl.json) is what makes that sampler work, e.g. an LCM-LoRA distilled by `prtkl
// train --distill lcm`: applied whenever a picture is drawn with this sampler, and only then.
struct SamplingDefaults {
  std::string sampler = "euler";
  int64_t steps = 20;
  double cfg = 7.0;
  std::string lora;  // absolute once loaded; empty: none
  // The flags as given (sampler "", steps 0, cfg < 0: not given) with the rest from here.
  void fill(std::string& sampler_flag, int64_t& steps_flag, double& cfg_flag) const;
  // The LoRA to draw with `sampler_used`: this one's lora for its own sampler, else none ("").
  std::string lora_for(const std::string& sampler_used) const { return sampler_used == sampler ? lora : ""; }
};

struct ModelPrompt {
  std::string model_id = "none";  // the model path the prompt belongs to, part of the cache key
  std::string source;             // the prtkl.json read, empty for defaults
  std::string trigger;
  std::string template_text = "{trigger}, {scene}, {style}";
  std::string style_suffix = "simple composition, plain white background";
  std::string negative_prompt = "text, letters, watermark, signature, blurry, cropped, busy background";
  std::vector<std::string> concepts;  // with an inventory, its captions
  std::shared_ptr<const Inventory> inventory;
  std::string default_style;  // a style name (src/adapters/style.h); "": none. Not part of version(): the
                              // scene and prompt do not depend on it
  SamplingDefaults sampling;  // not part of version() either

  // The final prompt: the template filled in, empty parts and doubled separators removed.
  std::string assemble(const std::string& scene) const;
  // A hash of everything above that shapes a result (the "template version" of the cache key).
  std::string version() const;
};

// Fields from JSON, validated; errors name `source` and the field.
ModelPrompt parse_model_prompt(const Json& json, const std::string& source);

// The prompt settings of the model at `model_path` (folder or single file); defaults when it has no
// prtkl.json, and for an empty path. A path that does not exist is an error.
ModelPrompt load_model_prompt(const std::string& model_path);

}  // namespace prtkl
