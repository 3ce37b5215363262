// What `prtkl eval` concludes and writes from its scores: the gate, README.md and eval.json (evaluate.h).
#pragma once
#include <string>

#include "core/json_config.h"
#include "eval/evaluate.h"

namespace prtkl {

// Sums the concepts' scores into r.all and r.held_out, then sets r.accuracy, r.pass and r.reason.
void apply_gate(const EvalOptions& options, EvalResult& r);
std::string eval_readme(const EvalOptions& options, const EvalResult& r);
Json eval_json(const EvalOptions& options, const EvalResult& r);

}  // namespace prtkl
