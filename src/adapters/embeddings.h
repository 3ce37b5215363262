// Textual-inversion embeddings: the pivotal-tuning file of diffusers' advanced scripts (`clip_l`/`clip_g`, tokens
// <s0><s1>…), AUTOMATIC1111's safetensors embeddings (`emb_params`), and textual_inversion.py's {token: vectors}.
// The tokens are added to the tokenizers and their rows appended to the text encoders' embedding tables.
#pragma once
#include <string>
#include <vector>

#include "diffusion/model_loader.h"

namespace prtkl {

struct LoadedEmbedding {
  std::string trigger;              // what to write in a prompt: "<s0><s1>", "<prtkl>", "myembed"
  std::vector<std::string> tokens;  // the tokens added
};

// `trigger`: the word for files that do not name their tokens (A1111 files; default: the file stem).
LoadedEmbedding load_embeddings(StableDiffusionModel& model, const std::string& path, const std::string& trigger = "");

}  // namespace prtkl
