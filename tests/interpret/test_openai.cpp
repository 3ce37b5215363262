// The OpenAI-compatible provider against a mock chat server on loopback (real HTTP): normal answers, slow
// answers past the timeout, 500s, truncated JSON, markdown, empty answers, and the fallback to offline.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "core/error.h"
#include "interpret/interpreter.h"
#include "interpret/offline_provider.h"
#include "interpret/openai_provider.h"
#include "interpret/sanitize.h"
#include "mock_server.h"
#include "support/fixtures.h"

using namespace prtkl;
using test::chat_reply;
using test::MockChatServer;

namespace {

OpenAIOptions options_for(const MockChatServer& server) {
  OpenAIOptions o;
  o.base_url = server.base_url();
  o.model = "qwen2.5:3b";
  o.api_key_env = "PRTKL_TEST_NO_SUCH_KEY";
  o.timeout_s = 2;
  o.retries = 2;
  o.backoff_s = 0.01;
  return o;
}

void reply_with(httplib::Response& res, const std::string& content) {
  res.set_content(chat_reply(content), "application/json");
}

std::string expect_failure(Provider& p, const std::string& word, const std::string& needle) {
  try {
    const auto a = p.interpret(word);
    ADD_FAILURE() << "answered '" << a.scene << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

// openai first, offline second, as a user would configure it.
Interpreter chain_with_offline(const OpenAIOptions& o) {
  std::vector<std::unique_ptr<Provider>> chain;
  chain.push_back(std::make_unique<OpenAIProvider>(o));
  chain.push_back(std::make_unique<OfflineProvider>(
      std::make_shared<const Lexicon>(Lexicon::load(test::source_dir() + "/data/lexicon.tsv"))));
  return Interpreter(std::move(chain), ModelPrompt{});
}

}  // namespace

TEST(OpenAI, NormalAnswerWithJsonSchema) {
  MockChatServer server([](const auto&, auto& res, int) { reply_with(res, R"({"scene": "two people hugging"})"); });
  OpenAIProvider p(options_for(server));
  const auto a = p.interpret("love");
  EXPECT_EQ(a.scene, "two people hugging");
  ASSERT_EQ(server.requests(), 1);
  const auto req = server.request(0);
  EXPECT_EQ(req["model"], "qwen2.5:3b");
  EXPECT_EQ(req["stream"], false);
  ASSERT_EQ(req["messages"].size(), 2u);
  EXPECT_EQ(req["messages"][0]["role"], "system");
  EXPECT_EQ(req["messages"][0]["content"], openai_system_prompt());
  EXPECT_EQ(req["messages"][1]["role"], "user");
  EXPECT_EQ(req["messages"][1]["content"], "Word: love");
  EXPECT_EQ(req["response_format"]["type"], "json_schema");
  EXPECT_EQ(req["response_format"]["json_schema"]["schema"]["required"][0], "scene");
  EXPECT_EQ(server.authorization(0), "");  // no key in the environment, no header
}

TEST(OpenAI, SendsTheApiKeyFromTheConfiguredVariable) {
  MockChatServer server([](const auto&, auto& res, int) { reply_with(res, "a cat"); });
  auto o = options_for(server);
  o.api_key_env = "PRTKL_TEST_API_KEY";
  setenv("PRTKL_TEST_API_KEY", "sk-test", 1);
  OpenAIProvider(o).interpret("cat");
  unsetenv("PRTKL_TEST_API_KEY");
  EXPECT_EQ(server.authorization(0), "Bearer sk-test");
}

TEST(OpenAI, ServersWithoutSchemaSupportGetAPlainRequest) {
  MockChatServer server([](const httplib::Request& req, auto& res, int) {
    if (Json::parse(req.body).contains("response_format")) {
      res.status = 400;
      res.set_content(R"({"error": "response_format not supported"})", "application/json");
      return;
    }
    reply_with(res, "Two people hugging.");
  });
  const auto a = OpenAIProvider(options_for(server)).interpret("love");
  EXPECT_EQ(sanitize_scene(a.scene), "two people hugging");
  ASSERT_EQ(server.requests(), 2);
  EXPECT_FALSE(server.request(1).contains("response_format"));
}

TEST(OpenAI, TolerantParserForUnconstrainedAnswers) {
  const auto parse = [](const std::string& content) { return sanitize_scene(extract_scene(content)); };
  EXPECT_EQ(parse("two people hugging"), "two people hugging");
  EXPECT_EQ(parse("  \"A bird flying out of an open cage.\"\n"), "a bird flying out of an open cage");
  EXPECT_EQ(parse("```json\n{\"scene\": \"a dog chasing a ball\"}\n```"), "a dog chasing a ball");
  EXPECT_EQ(parse("Here you go:\n```\n{\"scene\": \"a red apple\"}\n```\nEnjoy!"), "a red apple");
  EXPECT_EQ(parse("```json\n{\"scene\": \"an open umbrella\"}"), "an open umbrella");  // fence never closed
  EXPECT_EQ(parse("**a lighthouse in the fog**"), "a lighthouse in the fog");
  EXPECT_EQ(parse("<think>love... hugging?</think>{\"scene\": \"two people hugging\"}"), "two people hugging");
  EXPECT_EQ(parse("{\"description\": \"a tree in winter\"}"), "a tree in winter");
  EXPECT_EQ(parse("\"a cat asleep\""), "a cat asleep");
  EXPECT_THROW(extract_scene("{\"scene\": \"two people hug"), Error);
  EXPECT_THROW(extract_scene("{\"mood\": \"happy\"}"), Error);
  EXPECT_THROW(extract_scene(std::string(5000, 'a')), Error);
}

TEST(OpenAI, MarkdownAnswerThroughTheServer) {
  MockChatServer server([](const auto&, auto& res, int) {
    reply_with(res, "```json\n{\"scene\": \"a bird flying out of an open cage\"}\n```");
  });
  auto interpreter = chain_with_offline(options_for(server));
  const auto r = interpreter.interpret("liberation");
  EXPECT_EQ(r.provider, "openai");
  EXPECT_EQ(r.scene, "a bird flying out of an open cage");
  EXPECT_TRUE(r.fallbacks.empty());
}

TEST(OpenAI, SlowAnswerPastTheTimeoutIsNotRetried) {
  MockChatServer server([](const auto&, auto& res, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    reply_with(res, "too late");
  });
  auto o = options_for(server);
  o.timeout_s = 0.2;
  OpenAIProvider p(o);
  const auto start = std::chrono::steady_clock::now();
  expect_failure(p, "love", "no answer within 0.2 s");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAI, SlowAnswerFallsBackToOffline) {
  MockChatServer server([](const auto&, auto& res, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    reply_with(res, "too late");
  });
  auto o = options_for(server);
  o.timeout_s = 0.2;
  auto interpreter = chain_with_offline(o);
  const auto r = interpreter.interpret("love");
  EXPECT_EQ(r.provider, "offline");
  EXPECT_EQ(r.scene, "two people hugging");
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_NE(r.fallbacks[0].find("openai: "), std::string::npos);
  EXPECT_NE(r.fallbacks[0].find("no answer within"), std::string::npos);
}

TEST(OpenAI, ServerErrorsAreRetriedWithBackoffThenGiveUp) {
  MockChatServer server([](const auto&, auto& res, int) {
    res.status = 500;
    res.set_content("model crashed", "text/plain");
  });
  OpenAIProvider p(options_for(server));
  const auto msg = expect_failure(p, "love", "gave up after 3 attempts");
  EXPECT_NE(msg.find("HTTP 500"), std::string::npos) << msg;
  EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAI, RecoversWhenARetrySucceeds) {
  MockChatServer server([](const auto&, auto& res, int call) {
    if (call == 1) {
      res.status = 503;
      return;
    }
    reply_with(res, "two people hugging");
  });
  EXPECT_EQ(OpenAIProvider(options_for(server)).interpret("love").scene, "two people hugging");
  EXPECT_EQ(server.requests(), 2);
}

TEST(OpenAI, ClientErrorsAreNotRetried) {
  MockChatServer server([](const auto&, auto& res, int) {
    res.status = 401;
    res.set_content(R"({"error": "bad key"})", "application/json");
  });
  auto o = options_for(server);
  o.json_schema = false;
  OpenAIProvider p(o);
  expect_failure(p, "love", "HTTP 401");
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAI, TruncatedJsonIsAnError) {
  MockChatServer server([](const auto&, auto& res, int) {
    res.set_content(R"({"choices":[{"message":{"role":"assistant","content":"two peo)", "application/json");
  });
  OpenAIProvider p(options_for(server));
  expect_failure(p, "love", "not valid JSON");
  auto interpreter = chain_with_offline(options_for(server));
  EXPECT_EQ(interpreter.interpret("love").provider, "offline");
}

TEST(OpenAI, ResponseWithoutContentIsAnError) {
  MockChatServer server([](const auto&, auto& res, int) { res.set_content(R"({"choices": []})", "application/json"); });
  OpenAIProvider p(options_for(server));
  expect_failure(p, "love", "no choices[0].message.content");
}

TEST(OpenAI, EmptyAnswerFallsBack) {
  MockChatServer server([](const auto&, auto& res, int) { reply_with(res, "  "); });
  auto interpreter = chain_with_offline(options_for(server));
  const auto r = interpreter.interpret("love");
  EXPECT_EQ(r.provider, "offline");
  ASSERT_EQ(r.fallbacks.size(), 1u);
  EXPECT_NE(r.fallbacks[0].find("empty"), std::string::npos) << r.fallbacks[0];
}

TEST(OpenAI, ChattyOrMultiLineAnswersFallBack) {
  for (const std::string content :
       {"Sure! Here is a scene: two people hugging", "two people hugging\nNegative prompt: ugly",
        "(masterpiece:1.5), two people hugging, <lora:x:1>", "a b c d e f g h i j k l m n o p q r s t u v w"}) {
    MockChatServer server([content](const auto&, auto& res, int) { reply_with(res, content); });
    auto interpreter = chain_with_offline(options_for(server));
    const auto r = interpreter.interpret("love");
    EXPECT_EQ(r.provider, "offline") << content;
    EXPECT_EQ(r.scene, "two people hugging") << content;
  }
}

TEST(OpenAI, UnreachableServerIsRetriedThenFallsBack) {
  int port;
  {
    MockChatServer gone([](const auto&, auto&, int) {});
    port = gone.port();
  }
  OpenAIOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.backoff_s = 0.01;
  o.timeout_s = 1;
  OpenAIProvider p(o);
  expect_failure(p, "love", "cannot reach the server");
}

TEST(OpenAI, RejectsMalformedUrls) {
  OpenAIOptions o;
  o.base_url = "https://api.openai.com/v1";
  EXPECT_NO_THROW(OpenAIProvider{o});
  for (const char* bad : {"localhost:8080", "ftp://example.com/v1", "http://", "http://host:port/v1"}) {
    o.base_url = bad;
    try {
      OpenAIProvider p(o);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(OpenAI, HttpsToAPlainHttpServerFailsClearly) {
  MockChatServer server([](const auto&, auto& res, int) { reply_with(res, "a cat"); });
  auto o = options_for(server);
  o.base_url = "https://127.0.0.1:" + std::to_string(server.port()) + "/v1";
  o.retries = 0;
  OpenAIProvider p(o);
  expect_failure(p, "cat", "https://127.0.0.1");
}

TEST(OpenAI, OptionsFromJson) {
  const auto o = parse_openai_options(Json{{"base_url", "http://localhost:11434/v1"},
                                           {"model", "qwen2.5:3b"},
                                           {"api_key_env", "OLLAMA_KEY"},
                                           {"timeout_s", 5},
                                           {"retries", 1},
                                           {"json_schema", false}},
                                      "test.json");
  EXPECT_EQ(o.base_url, "http://localhost:11434/v1");
  EXPECT_EQ(o.model, "qwen2.5:3b");
  EXPECT_EQ(o.api_key_env, "OLLAMA_KEY");
  EXPECT_DOUBLE_EQ(o.timeout_s, 5);
  EXPECT_EQ(o.retries, 1);
  EXPECT_FALSE(o.json_schema);
  EXPECT_THROW(parse_openai_options(Json{{"timeout_s", "soon"}}, "test.json"), Error);
  EXPECT_THROW(parse_openai_options(Json{{"timeout_s", 0}}, "test.json"), Error);
}
