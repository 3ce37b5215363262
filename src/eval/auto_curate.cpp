#include "eval/auto_curate.h"

#include <map>

#include "core/error.h"
#include "core/image.h"
#include "core/json_config.h"
#include "eval/style_judge.h"

namespace prtkl {

std::vector<CandidateVerdict> judge_candidates(const std::vector<CandidateImage>& candidates, const std::string& look,
                                               const Judge& style_judge, const Judge& concept_judge,
                                               const std::string& concepts_json) {
  const auto target = style_label(style_judge, look);
  // caption -> concept id, for the concepts the judge knows; a caption may carry a prefix ("TOK, cat").
  std::map<std::string, std::string> by_caption;
  const auto inventory = read_json_file(concepts_json);
  std::map<std::string, int64_t> label_of;
  for (size_t i = 0; i < concept_judge.labels.size(); ++i) label_of[concept_judge.labels[i]] = static_cast<int64_t>(i);
  for (const auto& c : inventory.at("concepts"))
    if (label_of.count(c.at("id").get<std::string>()))
      by_caption[c.value("caption", std::string())] = c.at("id").get<std::string>();

  std::vector<CandidateVerdict> out;
  for (const auto& cand : candidates) {
    CandidateVerdict v;
    v.id = cand.id;
    const auto picture = image_tensor(read_image(cand.file)).unsqueeze(0);
    v.look = style_judge.labels.at(classify(style_judge, picture)[0].item<int64_t>());
    v.seen = concept_judge.labels.at(classify(concept_judge, picture)[0].item<int64_t>());
    const auto comma = cand.caption.rfind(", ");
    for (const auto& caption : {cand.caption, comma == std::string::npos ? "" : cand.caption.substr(comma + 2)})
      if (v.concept.empty() && by_caption.count(caption)) v.concept = by_caption.at(caption);
    if (v.look != style_judge.labels.at(target))
      v.why = "looks " + v.look;
    else if (v.concept.empty())
      v.why = "its caption names no concept the judge knows";
    else if (v.seen != v.concept)
      v.why = "the judge sees " + v.seen;
    v.keep = v.why.empty();
    if (v.keep) v.why = "kept";
    out.push_back(v);
  }
  return out;
}

}  // namespace prtkl
