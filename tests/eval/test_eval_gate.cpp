// The eval's gate on known results: a pass names the worst concept and the look's share; each way to fail (the
// overall accuracy, a concept under its floor, the target look's share overall or on the held-out concepts, the
// held-out accuracy) fails it and is named in the reason.
#include <gtest/gtest.h>

#include "eval/eval_report.h"
#include "eval/evaluate.h"

using namespace prtkl;

namespace {

ConceptScore concept_score(const std::string& id, int64_t correct, int64_t glossy, int64_t flat,
                           bool held_out = false) {
  ConceptScore c;
  c.id = id;
  c.correct = correct;
  c.total = 4;
  c.looks = {glossy, flat};
  c.held_out = held_out;
  return c;
}

// Three concepts of four pictures: 11 of 12 right (91.7 %), 11 of 12 flat; the held-out one 4/4 and all flat.
EvalResult known_result() {
  EvalResult r;
  r.looks = {"glossy", "flat"};
  r.concepts = {concept_score("cat", 4, 0, 4), concept_score("sun", 3, 1, 3), concept_score("ghost", 4, 0, 4, true)};
  return r;
}

EvalOptions gate(double min_accuracy, double min_concept, const std::string& look = "", double min_share = 0.9) {
  EvalOptions o;
  o.min_accuracy = min_accuracy;
  o.min_concept_accuracy = min_concept;
  o.target_style = look;
  o.min_style_share = min_share;
  return o;
}

}  // namespace

TEST(EvalGate, KnownPassAndEachWayToFail) {
  auto r = known_result();
  apply_gate(gate(0.9, 0.5, "flat", 0.9), r);
  EXPECT_TRUE(r.pass) << r.reason;
  EXPECT_NEAR(r.accuracy, 11.0 / 12.0, 1e-12);
  EXPECT_NEAR(r.all.look_shares[1], 11.0 / 12.0, 1e-12);
  EXPECT_EQ(r.held_out.concepts, 1);
  EXPECT_NE(r.reason.find("worst: sun 75"), std::string::npos) << r.reason;

  r = known_result();
  apply_gate(gate(0.95, 0.5), r);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.reason.find("overall 91.7 % < 95"), std::string::npos) << r.reason;

  r = known_result();
  apply_gate(gate(0.9, 0.8), r);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.reason.find("1 concept(s) under 80 %: sun 75"), std::string::npos) << r.reason;

  r = known_result();
  apply_gate(gate(0.9, 0.5, "flat", 0.95), r);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.reason.find("91.7 % flat < 95"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reason.find("held-out concepts"), std::string::npos) << "the held-out concept is all flat: " << r.reason;

  r = known_result();
  r.concepts[2] = concept_score("ghost", 2, 3, 1, true);  // held out: 50 % right, 25 % flat
  apply_gate(gate(0.6, 0.25, "flat", 0.6), r);
  EXPECT_FALSE(r.pass);
  EXPECT_NE(r.reason.find("held-out concepts 25 % flat < 60"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("held-out concepts 50 % < 60"), std::string::npos) << r.reason;
}
