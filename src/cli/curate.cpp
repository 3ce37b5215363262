// `prtkl curate --auto`: the curation page's decisions made by the judges (eval/auto_curate.h), for a recipe; a
// person's decisions on the page (decisions.json) stand, only undecided candidates are judged. The kept
// candidates are exported into the same training folder the page's export writes.
#include <iostream>
#include <memory>

#include "cli/progress_bar.h"
#include "cli/subcommand.h"
#include "core/error.h"
#include "core/resources.h"
#include "core/runtime.h"
#include "eval/auto_curate.h"
#include "eval/style_judge.h"
#include "server/curation.h"

namespace prtkl::cli {

namespace {

struct CurateArgs {
  bool automatic = false;
  std::string candidates, train_dir, look, npm, style_judge, judge, concepts;
  int threads = 1;
};

void run(const CurateArgs& a) {
  if (!a.automatic) fail("curate: only --auto is here; a person curates on /curation.html (prtkl serve --curation)");
  set_threads(a.threads);
  server::Curation curation(a.candidates, a.train_dir.empty() ? a.candidates + "/train" : a.train_dir);
  if (!curation.export_owned())
    fail(curation.train_dir(), ": holds files an export did not write; name an empty or exported folder");

  // With the npm pictures the style judge is trained (or reused while they and its options are the same); without
  // them, --style-judge is a judge trained earlier (models/recipe/style_judge.safetensors), used as it is.
  Judge style_judge;
  if (a.npm.empty()) {
    if (a.style_judge.empty()) fail("curate: give --npm (to train the style judge) or --style-judge FILE");
    style_judge = load_saved_judge(a.style_judge);
  } else {
    StyleJudgeReport report;
    ProgressBar bar("style judge");
    style_judge =
        prepare_style_judge(a.npm, a.style_judge.empty() ? a.candidates + "/style_judge.safetensors" : a.style_judge,
                            {}, report, [&](const JudgeTrainStep& s) {
                              if (s.step % 25 == 0 || s.step == s.total)
                                bar.update(s.step, s.total, "loss " + std::to_string(s.loss));
                            });
    bar.finish();
    std::cout << "style judge " << (report.reused ? "reused" : "trained") << ": held-out "
              << 100 * report.held_out_accuracy << " % of " << report.held_out_images << " real pictures\n";
  }
  const auto judge_path = a.judge.empty() ? resource_path("models/recipe/judge.safetensors") : a.judge;
  const auto concept_judge = load_saved_judge(judge_path);

  std::vector<CandidateImage> undecided;
  int64_t decided = 0;
  for (const auto& c : curation.candidates()) {
    if (c.decision.empty())
      undecided.push_back({c.id, curation.dir() + "/" + c.file_name, c.caption});
    else
      ++decided;
  }
  const auto concepts = a.concepts.empty() ? resource_path("models/prtkl-emoji/concepts.json") : a.concepts;
  int64_t kept = 0;
  for (const auto& v : judge_candidates(undecided, a.look, style_judge, concept_judge, concepts)) {
    curation.decide(v.id, v.keep ? "keep" : "reject");
    kept += v.keep;
    std::cout << v.id << "  " << (v.keep ? "keep  " : "reject") << "  " << v.why << "\n";
  }
  const int written = curation.export_kept();
  std::cout << kept << " of " << undecided.size() << " judged candidates kept (" << decided
            << " decided by a person stand); " << written << " images in " << curation.train_dir() << "\n";
}

RegisterSubcommand reg("curate", [](CLI::App& app) {
  auto a = std::make_shared<CurateArgs>();
  auto* sub = app.add_subcommand("curate", "Keep or reject `prtkl dataset generate` candidates by judge (--auto)");
  sub->add_flag("--auto", a->automatic, "decide by the style and concept judges")->required();
  sub->add_option("--candidates", a->candidates, "a `prtkl dataset generate` folder")->required();
  sub->add_option("--train-dir", a->train_dir, "where the kept images are exported (default CANDIDATES/train)");
  sub->add_option("--style", a->look, "the look to keep: glossy | flat")->required();
  sub->add_option("--npm", a->npm,
                  "node_modules with emoji-datasource-google and -twitter: the style judge learns them");
  sub->add_option("--style-judge", a->style_judge,
                  "the style judge's file: trained there with --npm (default CANDIDATES/style_judge.safetensors), "
                  "else used as it is");
  sub->add_option("--judge", a->judge, "the concept judge (default models/recipe/judge.safetensors)");
  sub->add_option("--concepts", a->concepts, "the model's concepts.json (default the bundled model's)");
  sub->add_option("--threads,-t", a->threads, "CPU threads (0: all cores)")->capture_default_str();
  sub->callback([a] { run(*a); });
});

}  // namespace

}  // namespace prtkl::cli
