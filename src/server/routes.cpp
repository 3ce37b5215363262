#include "server/routes.h"

#include <memory>
#include <mutex>
#include <random>

#include "core/error.h"
#include "server/request_limits.h"

namespace prtkl::server {

void reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  // Replace invalid UTF-8 (a bad request echoed in an error message) instead of failing the reply.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

Json openai_error(const std::string& message) {
  return {{"error", {{"message", message}, {"type", "invalid_request_error"}}}};
}

// cpp-httplib closes a connection whose response body fails to write, so a provider writes the body and then
// reports failure.
void refuse(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_header("Connection", "close");
  auto text = std::make_shared<std::string>(body.dump(-1, ' ', false, Json::error_handler_t::replace));
  res.set_content_provider(text->size(), "application/json", [text](size_t offset, size_t, httplib::DataSink& sink) {
    sink.write(text->data() + offset, text->size() - offset);
    return false;
  });
}

Json parse_body(const httplib::Request& req) {
  Json j;
  try {
    j = parse_json_bounded(req.body);
  } catch (const Error& e) {
    fail("the request body is ", e.what());
  }
  if (!j.is_object()) fail("the request body must be a JSON object");
  return j;
}

std::string optional_string(const Json& body, const char* name, const char* what) {
  if (!body.contains(name) || body[name].is_null()) return "";
  if (!body[name].is_string()) fail(what, " must be a string");
  return body[name].get<std::string>();
}

int64_t query_int(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name.c_str())) return fallback;
  const auto text = req.get_param_value(name.c_str());
  try {
    size_t used = 0;
    const auto v = std::stoll(text, &used);
    if (used == text.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  fail("query parameter ", name, " must be an integer in [", lo, ", ", hi, "], got '", text, "'");
}

uint64_t random_seed() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  return rng() & 0x7fffffffu;
}

}  // namespace prtkl::server
