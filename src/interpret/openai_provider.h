// A provider that asks an OpenAI-compatible chat server (llama.cpp's llama-server, Ollama, vLLM, OpenAI) for a
// scene: POST {base_url}/chat/completions over http or https (system CA certificates). Bounded retries with exponential
// backoff for refused connections, 429 and 5xx; a timeout is not retried, since the caller's time is already spent.
#pragma once
#include <string>

#include "core/json_config.h"
#include "interpret/provider.h"

namespace prtkl {

struct OpenAIOptions {
  std::string base_url = "http://127.0.0.1:8080/v1";  // llama-server's default
  std::string model = "default";
  std::string api_key_env = "OPENAI_API_KEY";  // read at request time; unset means no Authorization header
  double timeout_s = 20;                       // connect, send and each read
  int retries = 2;                             // extra attempts after the first
  double backoff_s = 0.5;                      // before retry n: backoff_s * 2^(n-1)
  bool json_schema = true;  // send response_format json_schema; a 400 answer drops it once and retries
  double temperature = 0.2;
  int max_tokens = 64;
};

// Options from JSON ({"base_url": ..., "model": ..., ...}); unknown types are errors naming `source`.
OpenAIOptions parse_openai_options(const Json& json, const std::string& source);

class OpenAIProvider : public Provider {
 public:
  // Validates the URL (http:// or https://, host, optional port and path).
  explicit OpenAIProvider(OpenAIOptions options);
  std::string name() const override { return "openai"; }
  std::string cache_id() const override;
  ProviderAnswer interpret(const std::string& word) override;

 private:
  OpenAIOptions options_;
  std::string origin_;  // scheme://host:port
  std::string path_;    // base path + /chat/completions
};

// The system prompt sent with every request.
const std::string& openai_system_prompt();

// The scene inside a message content, tolerating what servers without constrained output send: plain text,
// {"scene": ...} JSON, JSON in markdown fences, a <think> block first. Throws prtkl::Error for truncated JSON or
// JSON without a scene. The result still goes through sanitize_scene.
std::string extract_scene(const std::string& content);

}  // namespace prtkl
