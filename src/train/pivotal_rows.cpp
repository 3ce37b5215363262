#include "train/pivotal_rows.h"

#include <filesystem>
#include <vector>

#include "adapters/embeddings.h"
#include "core/error.h"
#include "core/safetensors.h"

namespace prtkl {

namespace {

torch::Tensor initial_rows(const TrainConfig& c, ClipTextModel& enc, const ClipTokenizer& tok, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const auto table = enc->token_embedding()->weight.to(torch::kFloat32).cpu();
  if (!c.initializer_concept.empty()) {  // the concept's token rows, cyclically
    auto ids = tok.encode(c.initializer_concept);
    ids = std::vector<int64_t>(ids.begin() + 1, ids.end() - 1);  // without bos/eos
    if (ids.empty()) fail("initializer_concept \"", c.initializer_concept, "\" has no tokens");
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < c.tokens_per_abstraction; ++i) rows.push_back(table[ids[i % ids.size()]]);
    return torch::stack(rows);
  }
  return torch::randn({c.tokens_per_abstraction, table.size(1)}, gen) * table.std();
}

torch::Tensor take_rows(ClipTextModel& enc, int64_t count) {
  const auto& table = enc->token_embedding()->weight;
  auto leaf = table.narrow(0, table.size(0) - count, count).detach().to(torch::kFloat32).clone().set_requires_grad(true);
  enc->set_token_rows(leaf);
  return leaf;
}

}  // namespace

PivotalRows add_pivotal_rows(StableDiffusionModel& m, const TrainConfig& c, const std::string& init_file,
                             bool keep_init_file) {
  at::Generator gen = at::detail::createCPUGenerator(c.seed + 7);
  TensorMap init{{"clip_l", initial_rows(c, m.text_encoder, *m.tokenizer, gen)}};
  if (m.text_encoder_2) init["clip_g"] = initial_rows(c, m.text_encoder_2, *m.tokenizer_2, gen);
  std::filesystem::create_directories(std::filesystem::path(init_file).parent_path());
  save_safetensors(init_file, init, {{"prtkl.note", "initial token rows of this run"}});
  load_embeddings(m, init_file);
  if (!keep_init_file) std::filesystem::remove(init_file);
  PivotalRows rows;
  rows.clip_l = take_rows(m.text_encoder, c.tokens_per_abstraction);
  if (m.text_encoder_2) rows.clip_g = take_rows(m.text_encoder_2, c.tokens_per_abstraction);
  return rows;
}

}  // namespace prtkl
