#include "train/checkpoint_store.h"

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_config.h"
#include "train/optimizer.h"

namespace prtkl {

namespace fs = std::filesystem;

fs::path write_checkpoint(const RunFolder& run, const TrainingPosition& position, const TrainingStateRefs& state,
                          int64_t keep, const std::function<void(const fs::path&)>& write_outputs) {
  const auto final_dir = run.checkpoint(position.step);
  const auto tmp = run.partial_checkpoint(position.step);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_outputs(tmp);
  TensorMap tensors;
  for (size_t i = 0; i < state.params.size(); ++i) tensors["param." + std::to_string(i)] = state.params[i].detach().cpu();
  for (size_t i = 0; i < state.ema.size(); ++i) tensors["ema." + std::to_string(i)] = state.ema[i];
  for (const auto& [k, v] : state.optimizer.state()) tensors["optimizer." + k] = v;
  tensors["rng.train"] = state.train_rng.get_state();
  tensors["rng.default"] = state.default_rng.get_state();
  save_safetensors((tmp / RunFolder::kStateFile).string(), tensors, {});
  write_file_atomic((tmp / RunFolder::kStateJson).string(),
                    Json({{"step", position.step}, {"micro_step", position.micro_step}, {"ti_frozen", position.ti_frozen}})
                        .dump(2));
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);  // the checkpoint appears complete or not at all
  run.keep_newest(keep);
  return final_dir;
}

TrainingPosition read_checkpoint(const fs::path& dir, const TrainingStateRefs& state) {
  const auto json = read_json_file((dir / RunFolder::kStateJson).string());
  auto tensors = SafeTensors::open((dir / RunFolder::kStateFile).string()).all();
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < state.params.size(); ++i) {
    const auto key = "param." + std::to_string(i);
    if (!tensors.count(key) || !tensors[key].sizes().equals(state.params[i].sizes()))
      fail(dir.string(), ": its trainable tensors do not match this config (", key, ")");
    state.params[i].copy_(tensors[key]);
  }
  for (size_t i = 0; i < state.ema.size(); ++i) {
    const auto key = "ema." + std::to_string(i);
    if (!tensors.count(key)) fail(dir.string(), ": no EMA weights (", key, ") for this config's ema_decay");
    state.ema[i].copy_(tensors[key]);
  }
  TensorMap optimizer;
  for (const auto& [k, v] : tensors)
    if (k.rfind("optimizer.", 0) == 0) optimizer[k.substr(10)] = v;
  state.optimizer.load_state(optimizer);
  for (const auto* key : {"rng.train", "rng.default"})
    if (!tensors.count(key)) fail(dir.string(), ": no random generator state (", key, ")");
  state.train_rng.set_state(tensors.at("rng.train"));
  state.default_rng.set_state(tensors.at("rng.default"));
  return {json.at("step").get<int64_t>(), json.at("micro_step").get<int64_t>(), json.value("ti_frozen", false)};
}

}  // namespace prtkl
