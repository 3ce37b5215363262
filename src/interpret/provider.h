// One way of turning a normalised word into a scene. The Interpreter chains providers: the first that answers
// with a clean scene wins, and one that throws or answers badly hands over to the next.
#pragma once
#include <string>

namespace prtkl {

struct ProviderAnswer {
  std::string scene;   // raw; the Interpreter sanitises it
  std::string detail;  // how the provider got there, for the user ("lexicon", "wordnet: verb", ...)
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string name() const = 0;
  // What the cache keys on: the name plus whatever changes the answers (LLM model, lexicon contents).
  virtual std::string cache_id() const { return name(); }
  // Throws (prtkl::Error or anything else) when it cannot answer.
  virtual ProviderAnswer interpret(const std::string& word) = 0;
};

}  // namespace prtkl
