#include "eval/eval_report.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "particles/particles.h"

namespace prtkl {

namespace {

double percent(double fraction) { return std::round(fraction * 1000) / 10; }

std::string pct(double fraction) {
  std::ostringstream os;
  os << percent(fraction) << " %";
  return os.str();
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  if (values.size() % 2) return *mid;
  return (*mid + *std::max_element(values.begin(), mid)) / 2;
}

std::string fixed3(double value) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << value;
  return os.str();
}

// The concepts of one group (held out or not; `held_only` false: all of them) summed.
GroupScore group(const EvalResult& r, bool held_only) {
  GroupScore g;
  g.look_shares.assign(r.looks.size(), 0.0);
  int64_t looked = 0;
  std::vector<double> ssims;
  for (const auto& c : r.concepts) {
    if (held_only && !c.held_out) continue;
    ++g.concepts;
    g.correct += c.correct;
    g.total += c.total;
    g.render_correct += c.render_correct;
    g.render_lost += c.render_lost;
    ssims.insert(ssims.end(), c.set_ssims.begin(), c.set_ssims.end());
    for (size_t k = 0; k < c.looks.size(); ++k) g.look_shares[k] += static_cast<double>(c.looks[k]);
    for (const auto n : c.looks) looked += n;
  }
  for (auto& share : g.look_shares) share = looked ? share / static_cast<double>(looked) : 0.0;
  g.set_ssim_median = median(ssims);
  return g;
}

// "39.7 % glossy, 60.3 % flat": one share per look of the style judge.
std::string looks_text(const EvalResult& r, const std::vector<double>& shares) {
  std::string text;
  for (size_t k = 0; k < r.looks.size(); ++k) text += (k ? ", " : "") + pct(shares.at(k)) + " " + r.looks[k];
  return text;
}

}  // namespace

std::string eval_readme(const EvalOptions& o, const EvalResult& r) {
  std::ostringstream md;
  md << "# prtkl eval\n\n**" << (r.pass ? "PASS" : "FAIL") << "**: " << r.reason << "\n\n"
     << "| | |\n|---|---|\n"
     << "| overall top-1 accuracy | " << pct(r.accuracy) << " (" << r.all.correct << " / " << r.all.total << ") |\n"
     << "| concepts | " << r.concepts.size() << " × " << o.samples << " images |\n"
     << "| gate | overall >= " << pct(o.min_accuracy) << ", every concept >= " << pct(o.min_concept_accuracy) << " |\n"
     << "| judge, held-out real pictures | " << pct(r.judge.held_out_accuracy) << " (" << r.judge.held_out_images
     << " pictures: skin tones it never saw) |\n"
     << "| judge, its training pictures | " << pct(r.judge.train_accuracy) << " (" << r.judge.train_images
     << " pictures); blurred (sigma " << kBlurSigma << " px): " << pct(r.judge.blurred_train_accuracy) << " |\n"
     << "| judge, real pictures through the model's autoencoder | " << pct(r.round_trip_accuracy)
     << " (the ceiling for what is drawn: every generation is decoded by it) |\n"
     << "| judge, each image's particle set drawn as discs | " << pct(r.all.render_accuracy()) << " ("
     << r.all.render_correct << " / " << r.all.total << "): " << pct(r.all.render_ratio())
     << " of the images' rate (issue 39 asks >= 97 %); images named right whose set is not: " << r.all.render_lost
     << " |\n"
     << "| particle sets against their images, blurred SSIM | median " << fixed3(r.all.set_ssim_median)
     << " (issue 39 asks >= 0.85; " << ParticleOptions().count << " particles seeded as the server does) |\n"
     << "| sampling | " << o.sampler << ", " << o.steps << " steps, CFG " << o.cfg << ", seed " << o.seed
     << " + concept index |\n"
     << "| style judge's looks | " << looks_text(r, r.all.look_shares) << " |\n"
     << "| style judge, held-out real pictures | " << pct(r.style_judge.held_out_accuracy) << " ("
     << r.style_judge.held_out_images << " pictures of emoji it never saw"
     << (r.style_judge.held_out_round_trip_accuracy >= 0
             ? "; after the model's autoencoder " + pct(r.style_judge.held_out_round_trip_accuracy) +
                   ": it also learnt round trips"
             : std::string())
     << ") |\n"
     << "| style judge, real pictures through the model's autoencoder | " << looks_text(r, r.round_trip_look_accuracy)
     << " named in their own look (the ceiling for judging a generation's look) |\n";
  if (!r.adapters.empty()) md << "| style | " << r.adapters << ", prompt \"" << o.prompt_template << "\" |\n";
  if (r.held_out.concepts)
    md << "| held-out concepts (" << r.held_out.concepts << ") | " << pct(r.held_out.accuracy()) << " top-1; looks "
       << looks_text(r, r.held_out.look_shares) << " |\n";
  md << "\n"
     << "The judge is a small CNN trained from seed " << o.judge.seed
     << " on the real emoji pictures (both styles, all skin tones but the held-out ones) of the evaluation concepts, "
        "with heavy augmentation; it labels each generated image as one of the evaluation concepts.\n\n"
     << "```\n"
     << o.command << "\n```\n\n![first image of each concept, a real picture beside it](samples.png)\n\n"
     << "| concept | caption | accuracy | correct | judge's most common wrong label | real pictures through the "
        "autoencoder | particle sets recognised | set SSIM median | looks |\n|---|---|---|---|---|---|---|---|---|\n";
  std::vector<const ConceptScore*> sorted;
  for (const auto& c : r.concepts) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->accuracy() < b->accuracy(); });
  for (const auto* c : sorted) {
    md << "| " << c->id << " | " << c->caption << " | " << pct(c->accuracy()) << " | " << c->correct << " / "
       << c->total << " | ";
    if (!c->top_wrong.empty()) md << c->top_wrong << " (" << c->top_wrong_count << ")";
    md << " | " << c->round_trip_correct << " / " << c->round_trip_total << " | " << c->render_correct << " / "
       << c->total << " | " << fixed3(median(c->set_ssims)) << " | ";
    for (size_t k = 0; k < c->looks.size(); ++k) md << (k ? ", " : "") << r.looks[k] << " " << c->looks[k];
    md << (c->held_out ? " (held out)" : "") << " |\n";
  }
  return md.str();
}

Json eval_json(const EvalOptions& o, const EvalResult& r) {
  Json concepts = Json::array();
  for (const auto& c : r.concepts)
    concepts.push_back({{"id", c.id},
                        {"caption", c.caption},
                        {"correct", c.correct},
                        {"total", c.total},
                        {"accuracy", c.accuracy()},
                        {"top_wrong", c.top_wrong},
                        {"top_wrong_count", c.top_wrong_count},
                        {"round_trip_correct", c.round_trip_correct},
                        {"round_trip_total", c.round_trip_total},
                        {"round_trip_looks_correct", c.round_trip_looks_correct},
                        {"render_correct", c.render_correct},
                        {"render_lost", c.render_lost},
                        {"render_accuracy", c.render_accuracy()},
                        {"set_ssims", c.set_ssims},
                        {"set_ssim_median", median(c.set_ssims)},
                        {"looks", c.looks},
                        {"held_out", c.held_out}});
  const auto& j = r.judge;
  return {{"model", o.model},
          {"command", o.command},
          {"settings",
           {{"samples", o.samples},
            {"steps", o.steps},
            {"cfg", o.cfg},
            {"sampler", o.sampler},
            {"seed", o.seed},
            {"eval_set", o.eval_set},
            {"concepts", o.concepts}}},
          {"accuracy", r.accuracy},
          {"round_trip_accuracy", r.round_trip_accuracy},
          {"round_trip_look_accuracy", r.round_trip_look_accuracy},
          {"pass", r.pass},
          {"reason", r.reason},
          {"gate",
           {{"min_accuracy", o.min_accuracy},
            {"min_concept_accuracy", o.min_concept_accuracy},
            {"target_style", o.target_style},
            {"min_style_share", o.min_style_share}}},
          {"judge",
           {{"reused", j.reused},
            {"train_seconds", j.train_seconds},
            {"train_images", j.train_images},
            {"held_out_images", j.held_out_images},
            {"train_accuracy", j.train_accuracy},
            {"blurred_train_accuracy", j.blurred_train_accuracy},
            {"blur_sigma", kBlurSigma},
            {"held_out_accuracy", j.held_out_accuracy},
            {"seed", o.judge.seed},
            {"steps", o.judge.steps},
            {"batch_size", o.judge.batch_size},
            {"widths", o.judge.widths}}},
          {"looks", r.looks},
          {"look_shares", r.all.look_shares},
          {"adapters", r.adapters},
          {"prompt_template", o.prompt_template},
          {"held_out",
           {{"set", o.held_out_set},
            {"concepts", r.held_out.concepts},
            {"accuracy", r.held_out.accuracy()},
            {"look_shares", r.held_out.look_shares}}},
          {"style_judge",
           {{"reused", r.style_judge.reused},
            {"train_seconds", r.style_judge.train_seconds},
            {"train_images", r.style_judge.train_images},
            {"held_out_images", r.style_judge.held_out_images},
            {"train_accuracy", r.style_judge.train_accuracy},
            {"held_out_accuracy", r.style_judge.held_out_accuracy},
            {"held_out_round_trip_accuracy", r.style_judge.held_out_round_trip_accuracy}}},
          {"particle_sets",
           {{"count", ParticleOptions().count},
            {"render_correct", r.all.render_correct},
            {"render_accuracy", r.all.render_accuracy()},
            {"render_ratio", r.all.render_ratio()},
            {"render_lost", r.all.render_lost},
            {"set_ssim_median", r.all.set_ssim_median},
            {"seconds", r.particle_seconds}}},
          {"generate_seconds", r.generate_seconds},
          {"concepts", concepts}};
}

// Gate: overall accuracy, and no concept the model cannot draw at all.
void apply_gate(const EvalOptions& o, EvalResult& r) {
  r.all = group(r, false);
  r.held_out = group(r, true);
  r.accuracy = r.all.accuracy();
  std::vector<const ConceptScore*> low;
  for (const auto& c : r.concepts)
    if (c.accuracy() < o.min_concept_accuracy) low.push_back(&c);
  std::stable_sort(low.begin(), low.end(), [](auto* a, auto* b) { return a->accuracy() < b->accuracy(); });
  std::ostringstream why;
  if (r.accuracy < o.min_accuracy) why << "overall " << pct(r.accuracy) << " < " << pct(o.min_accuracy);
  if (!low.empty()) {
    why << (r.accuracy < o.min_accuracy ? "; " : "") << low.size() << " concept(s) under "
        << pct(o.min_concept_accuracy) << ":";
    // The worst ten name the problem; the README's table lists every concept.
    for (size_t i = 0; i < std::min<size_t>(low.size(), 10); ++i)
      why << (i ? ", " : " ") << low[i]->id << " " << pct(low[i]->accuracy());
    if (low.size() > 10) why << " and " << low.size() - 10 << " more";
  }
  // run_eval checked that the style judge knows the target look.
  const auto target = static_cast<size_t>(std::find(r.looks.begin(), r.looks.end(), o.target_style) - r.looks.begin());
  const auto style_check = [&](const GroupScore& g, const char* what) {
    if (o.target_style.empty() || !g.concepts) return;
    const double share = g.look_shares.at(target);
    if (share < o.min_style_share)
      why << (why.str().empty() ? "" : "; ") << what << pct(share) << " " << o.target_style << " < "
          << pct(o.min_style_share);
  };
  style_check(r.all, "");
  style_check(r.held_out, "held-out concepts ");
  if (r.held_out.concepts && r.held_out.accuracy() < o.min_accuracy)
    why << (why.str().empty() ? "" : "; ") << "held-out concepts " << pct(r.held_out.accuracy()) << " < "
        << pct(o.min_accuracy);
  r.pass = why.str().empty();
  if (r.pass) {
    const auto worst = std::min_element(r.concepts.begin(), r.concepts.end(),
                                        [](const auto& a, const auto& b) { return a.accuracy() < b.accuracy(); });
    why << "overall " << pct(r.accuracy) << " >= " << pct(o.min_accuracy)
        << " and every concept >= " << pct(o.min_concept_accuracy) << " (worst: " << worst->id << " "
        << pct(worst->accuracy()) << ")";
    if (!o.target_style.empty()) why << ", " << pct(r.all.look_shares.at(target)) << " " << o.target_style;
  }
  r.reason = why.str();
}

}  // namespace prtkl
