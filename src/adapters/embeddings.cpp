#include "adapters/embeddings.h"

#include <filesystem>

#include "core/error.h"
#include "core/safetensors.h"

namespace prtkl {

namespace {

// Adds `tokens` with `rows` [n, hidden] to one tokenizer/encoder pair.
void add_rows(ClipTokenizer& tokenizer, ClipTextModel& encoder, const std::vector<std::string>& tokens,
              const torch::Tensor& rows, const std::string& source) {
  torch::NoGradGuard no_grad;
  auto& table = encoder->token_embedding()->weight;
  if (rows.dim() != 2 || rows.size(1) != table.size(1))
    fail(source, ": embedding rows have shape ", rows.sizes(), " but the text encoder's hidden size is ", table.size(1));
  const auto ids = tokenizer.add_tokens(tokens);
  const int64_t needed = tokenizer.vocab_size();
  if (needed > table.size(0)) {
    auto grown = torch::cat({table, torch::zeros({needed - table.size(0), table.size(1)}, table.options())});
    table.set_data(grown);
  }
  for (size_t i = 0; i < ids.size(); ++i) table[ids[i]].copy_(rows[i].to(table.options()));
}

}  // namespace

LoadedEmbedding load_embeddings(StableDiffusionModel& model, const std::string& path, const std::string& trigger) {
  auto st = SafeTensors::open(path);
  LoadedEmbedding out;
  auto numbered = [](const std::string& base, int64_t n) {  // A1111 / textual_inversion.py: t, t_1, t_2, …
    std::vector<std::string> t{base};
    for (int64_t i = 1; i < n; ++i) t.push_back(base + "_" + std::to_string(i));
    return t;
  };
  if (st.contains("clip_l") || st.contains("clip_g")) {
    // Pivotal tuning: one token per row, <s0> <s1> …; SDXL has the same tokens in both encoders.
    const auto first = st.contains("clip_l") ? st.get("clip_l") : st.get("clip_g");
    for (int64_t i = 0; i < first.size(0); ++i) out.tokens.push_back("<s" + std::to_string(i) + ">");
    for (const auto& t : out.tokens) out.trigger += t;
    if (!trigger.empty()) fail(path, ": a pivotal-tuning file defines its own tokens (", out.trigger, ")");
    // Check everything before touching the model, so a bad file changes nothing.
    if (st.contains("clip_g") && !model.text_encoder_2)
      fail(path, ": has clip_g rows but the model has no second text encoder (not SDXL)");
    if (st.contains("clip_l")) add_rows(*model.tokenizer, model.text_encoder, out.tokens, st.get("clip_l"), path);
    if (st.contains("clip_g")) add_rows(*model.tokenizer_2, model.text_encoder_2, out.tokens, st.get("clip_g"), path);
    return out;
  }
  torch::Tensor rows;
  if (st.contains("emb_params")) {
    rows = st.get("emb_params");
    out.trigger = trigger.empty() ? std::filesystem::path(path).stem().string() : trigger;
  } else if (st.names().size() == 1) {
    out.trigger = trigger.empty() ? st.names().front() : trigger;
    rows = st.get(st.names().front());
  } else {
    fail(path, ": not an embedding file (expected clip_l/clip_g, emb_params, or a single {token: vectors} tensor)");
  }
  if (rows.dim() == 1) rows = rows.unsqueeze(0);
  out.tokens = numbered(out.trigger, rows.size(0));
  const auto hidden1 = model.text_encoder->hidden_size();
  if (rows.size(1) == hidden1) {
    add_rows(*model.tokenizer, model.text_encoder, out.tokens, rows, path);
  } else if (model.text_encoder_2 && rows.size(1) == model.text_encoder_2->hidden_size()) {
    add_rows(*model.tokenizer_2, model.text_encoder_2, out.tokens, rows, path);
  } else {
    fail(path, ": embedding width ", rows.size(1), " matches no text encoder of this model");
  }
  if (out.tokens.size() > 1) {
    std::string expansion;
    for (const auto& t : out.tokens) expansion += (expansion.empty() ? "" : " ") + t;
    model.prompt_expansions[out.trigger] = expansion;
  }
  return out;
}

}  // namespace prtkl
