#include "train/trained_parameters.h"

namespace prtkl {

namespace {

// Every weight of a trained module, made trainable and kept in `t.full`.
std::vector<torch::Tensor> train_all(TrainedParameters& t, std::vector<torch::Tensor> p) {
  for (auto& w : p) w.set_requires_grad(true);
  t.full.insert(t.full.end(), p.begin(), p.end());
  return p;
}

}  // namespace

TrainedParameters set_up_trained_parameters(StableDiffusionModel& m, const TrainConfig& c, const PivotalRows& rows,
                                            int64_t ti_steps) {
  TrainedParameters t;
  auto& groups = t.groups;
  if (c.decoder_stage()) {
    // post_quant_conv and the decoder: the encoder's latents stay what the UNet learned.
    std::vector<torch::Tensor> decoder;
    for (const auto& p : m.vae->named_parameters())
      if (p.key().rfind("encoder.", 0) != 0 && p.key().rfind("quant_conv.", 0) != 0) decoder.push_back(p.value());
    groups.push_back({"vae_decoder", train_all(t, decoder), c.lr, c.weight_decay, false});
  } else if (c.autoencoder_stage()) {
    groups.push_back({"vae", train_all(t, m.vae->parameters()), c.lr, c.weight_decay, false});
  } else if (c.full) {
    groups.push_back({"unet", train_all(t, m.unet->parameters()), c.lr, c.weight_decay, false});
    if (c.train_text_encoder)
      groups.push_back({"text_encoder", train_all(t, m.text_encoder->parameters()), c.text_encoder_lr,
                        c.text_encoder_weight_decay, false});
  } else {
    at::Generator lora_gen = at::detail::createCPUGenerator(c.seed + 3);
    t.unet_lora = inject_lora(*m.unet, c.unet_targets, c.rank, c.alpha, c.dropout, lora_gen, "unet");
    groups.push_back({"unet", t.unet_lora.parameters(), c.lr, c.weight_decay, false});
    if (c.train_text_encoder) {
      t.te_lora =
          inject_lora(*m.text_encoder, c.text_encoder_targets, c.rank, c.alpha, c.dropout, lora_gen, "text_encoder");
      if (m.text_encoder_2)
        t.te2_lora = inject_lora(*m.text_encoder_2, c.text_encoder_targets, c.rank, c.alpha, c.dropout, lora_gen,
                                 "text_encoder_2");
      auto p = t.te_lora.parameters();
      for (const auto& w : t.te2_lora.parameters()) p.push_back(w);
      groups.push_back({"text_encoder", p, c.text_encoder_lr, c.text_encoder_weight_decay, false});
    }
  }
  if (c.pivotal) {
    std::vector<torch::Tensor> trained_rows{rows.clip_l};
    if (rows.clip_g.defined()) trained_rows.push_back(rows.clip_g);
    groups.push_back({"embeddings", trained_rows, c.text_encoder_lr, c.text_encoder_weight_decay, ti_steps == 0});
  }
  return t;
}

}  // namespace prtkl
