// The scripted picker of `prtkl curate --auto`: what a person does on the curation page, done by the two judges.
// A candidate is kept when the style judge puts it in the target look and the concept judge names the concept its
// caption asks for; the decisions are recorded and exported as the page's are (server/curation.h).
#pragma once
#include <string>
#include <vector>

#include "eval/judge.h"

namespace prtkl {

struct CandidateImage {
  std::string id, file, caption;  // file: the image's path
};

struct CandidateVerdict {
  std::string id;
  std::string look;     // the style judge's label
  std::string concept;  // the concept the caption asks for ("" when it names none the concept judge knows)
  std::string seen;     // the concept judge's label
  bool keep = false;
  std::string why;  // "kept", or what failed
};

// `concepts_json`: the model's inventory (concepts.json: id and caption per concept), to find the concept a
// caption asks for. Throws prtkl::Error for an unreadable image or an unknown look.
std::vector<CandidateVerdict> judge_candidates(const std::vector<CandidateImage>& candidates, const std::string& look,
                                               const Judge& style_judge, const Judge& concept_judge,
                                               const std::string& concepts_json);

}  // namespace prtkl
