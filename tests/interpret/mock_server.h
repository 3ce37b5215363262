// A real HTTP server on 127.0.0.1 with an ephemeral port, standing in for an OpenAI-compatible chat server.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/http.h"
#include "core/json_config.h"

namespace prtkl::test {

class MockChatServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int call)>;

  explicit MockChatServer(Handler handler) : handler_(std::move(handler)) {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      int call;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        bodies_.push_back(req.body);
        headers_.push_back(req.get_header_value("Authorization"));
        call = static_cast<int>(bodies_.size());
      }
      handler_(req, res, call);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~MockChatServer() {
    server_.stop();
    thread_.join();
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int port() const { return port_; }
  int requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(bodies_.size());
  }
  Json request(int i) {
    std::lock_guard<std::mutex> lock(mutex_);
    return Json::parse(bodies_.at(i));
  }
  std::string authorization(int i) {
    std::lock_guard<std::mutex> lock(mutex_);
    return headers_.at(i);
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::vector<std::string> headers_;
};

// A chat completion whose message content is `content`.
inline std::string chat_reply(const std::string& content) {
  Json j{{"id", "chatcmpl-1"},
         {"object", "chat.completion"},
         {"choices",
          {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", content}}}, {"finish_reason", "stop"}}}}};
  return j.dump();
}

}  // namespace prtkl::test
