// `prtkl eval`: the quality gate of the bundled model (src/eval/evaluate.h). Prints PASS or FAIL with the reason
// and exits 0 either way: the table in --out is the result; only a broken run exits non-zero.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "adapters/style.h"
#include "cli/progress_bar.h"
#include "cli/sampling_flags.h"
#include "cli/subcommand.h"
#include "core/runtime.h"
#include "data/emoji_styles.h"
#include "diffusion/models_folder.h"
#include "diffusion/scheduler.h"
#include "eval/evaluate.h"
#include "interpret/model_prompt.h"

namespace prtkl::cli {

namespace {

struct EvalArgs {
  EvalOptions o;
  SamplingFlags sampling;  // unset: the eval's own defaults (EvalOptions)
  std::string style;
  int threads = 0;
};

// The command as given (every option with its value), for the README.
std::string command_line(const EvalArgs& a) {
  std::ostringstream os;
  const auto& o = a.o;
  os << "prtkl eval --model " << o.model << " --concepts " << o.concepts << " --eval-set " << o.eval_set << " --npm "
     << o.npm << " --work " << o.work << " --out " << o.out << " --samples " << o.samples << " --steps " << o.steps
     << " --cfg " << o.cfg << " --sampler " << o.sampler << " --seed " << o.seed << " --judge-seed " << o.judge.seed << " --threads " << a.threads;
  if (o.style_judge_round_trip) os << " --style-judge-round-trip";
  if (!a.style.empty()) os << " --style " << a.style;
  for (const auto& l : o.loras) os << " --lora " << l;
  for (const auto& e : o.embeddings) os << " --embeddings " << e;
  if (o.prompt_template != "{prompt}") os << " --prompt-template '" << o.prompt_template << "'";
  if (!o.target_style.empty()) os << " --target-style " << o.target_style << " --min-style-share " << o.min_style_share;
  if (!o.held_out_set.empty()) os << " --held-out-set " << o.held_out_set;
  os << " --min-accuracy " << o.min_accuracy;
  return os.str();
}

void run(EvalArgs& a) {
  set_threads(a.threads);
  a.o.command = command_line(a);  // as given: a style's adapters are not repeated as flags
  // The model as users get it: its sampling adapter (an LCM-LoRA) when judged with that sampler.
  if (const auto lora = load_model_prompt(find_in_models(a.o.model)).sampling.lora_for(a.o.sampler); !lora.empty()) {
    a.o.loras.insert(a.o.loras.begin(), lora);
    std::cerr << "sampling adapter " << lora << " (the model's, for " << a.o.sampler << ")\n";
  }
  if (const auto style = resolve_style(a.style, a.o.model)) {  // its adapters and prompt; its look is the target
    if (!style->lora.empty()) a.o.loras.push_back(style->lora_spec());
    if (!style->embeddings.empty()) a.o.embeddings.push_back(style->embeddings);
    a.o.prompt_template = style->prompt_template;
    for (const auto& s : kEmojiStyles)
      if (a.o.target_style.empty() && style->name == s.look) a.o.target_style = s.look;
  }
  std::unique_ptr<ProgressBar> bar;
  std::string stage;
  const auto result = run_eval(a.o, [&](const EvalEvent& e) {
    if (e.stage != stage) {
      if (bar) bar->finish();
      bar = std::make_unique<ProgressBar>(e.stage);
      stage = e.stage;
    }
    // About a hundred updates a stage: a log file gets lines, not thousands of them.
    if (e.done == e.total || e.done % std::max<int64_t>(1, e.total / 100) == 0) bar->update(e.done, e.total, e.detail);
  });
  if (bar) bar->finish();
  const auto& j = result.judge;
  std::cout << std::fixed << std::setprecision(1) << "judge "
            << (j.reused ? "reused" : "trained in " + std::to_string(static_cast<int>(j.train_seconds)) + " s")
            << ": held-out " << 100 * j.held_out_accuracy << " % of " << j.held_out_images << ", training "
            << 100 * j.train_accuracy << " % of " << j.train_images << " (blurred " << 100 * j.blurred_train_accuracy
            << " %)\n"
            << "looks: ";
  for (size_t k = 0; k < result.looks.size(); ++k)
    std::cout << (k ? ", " : "") << 100 * result.all.look_shares[k] << " % " << result.looks[k];
  std::cout << " (style judge: held-out " << 100 * result.style_judge.held_out_accuracy << " % of "
            << result.style_judge.held_out_images << ")\n"
            << "generation: " << static_cast<int>(result.generate_seconds) << " s for " << result.concepts.size()
            << " concepts\n"
            << "particle sets: judge " << 100 * result.all.render_accuracy() << " % on their renders, "
            << 100 * result.all.render_ratio() << " % of its rate on the images (" << result.all.render_lost
            << " recognised images lost in their sets); blurred SSIM median " << std::setprecision(3)
            << result.all.set_ssim_median << std::setprecision(1) << " (" << result.particle_seconds << " s)\n"
            << (result.pass ? "PASS: " : "FAIL: ") << result.reason << "\n"
            << a.o.out << "/README.md\n";
}

RegisterSubcommand reg("eval", [](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto& o = a->o;
  auto* sub = app.add_subcommand("eval", "Judge a model: draw every concept of an eval set and classify the images");
  sub->add_option("--model,-m", o.model, "model to evaluate (diffusers folder or single file)")->required();
  sub->add_option("--concepts", o.concepts, "concepts.json of the emoji dataset (prtkl dataset emoji)")->required();
  sub->add_option("--eval-set", o.eval_set, "concept ids, one a line (# comments)")->required();
  sub->add_option("--npm", o.npm, "node_modules with emoji-datasource-google and -twitter (the judge's pictures)")
      ->required();
  sub->add_option("--work", o.work, "folder for the judge (reused while nothing changed) and all generations")
      ->required();
  sub->add_option("--out,-o", o.out, "folder for README.md, eval.json and samples.png")->required();
  sub->add_option("--samples", o.samples, "images per concept")->capture_default_str();
  add_sampling_flags(sub, a->sampling, {o.sampler, o.steps, o.cfg, ""});
  sub->add_flag("--style-judge-round-trip", o.style_judge_round_trip,
                "the style judge also learns the real pictures after the model's autoencoder (a judge for decoded "
                "pictures; cached under its own key)");
  sub->add_option("--seed", o.seed, "seed of the first concept (concept i uses seed + i)")->capture_default_str();
  sub->add_option("--judge-seed", o.judge.seed, "seed of the judge's training and held-out tones")
      ->capture_default_str();
  sub->add_option("--min-accuracy", o.min_accuracy, "the gate's overall accuracy")->capture_default_str();
  sub->add_option("--style", a->style,
                  "a style (name, folder or none): its adapters and prompt; glossy and flat are also the target look");
  sub->add_option("--lora", o.loras, "a LoRA, FILE[:scale]; repeatable");
  sub->add_option("--embeddings", o.embeddings, "textual-inversion embeddings; repeatable");
  sub->add_option("--prompt-template", o.prompt_template, "the prompt around each caption, e.g. '<s0><s1>, {prompt}'")
      ->capture_default_str();
  sub->add_option("--target-style", o.target_style, "the look every picture should have: glossy | flat");
  sub->add_option("--min-style-share", o.min_style_share, "the gate's share of the target look")->capture_default_str();
  sub->add_option("--style-judge", o.style_judge, "the style judge's file (default WORK/style_judge.safetensors)");
  sub->add_option("--held-out-set", o.held_out_set, "concept ids of the eval set reported apart, one a line");
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  sub->callback([a] {
    const auto s = a->sampling.filled({a->o.sampler, a->o.steps, a->o.cfg, ""});
    a->o.steps = s.steps, a->o.cfg = s.cfg, a->o.sampler = s.sampler;
    run(*a);
  });
});

}  // namespace

}  // namespace prtkl::cli
