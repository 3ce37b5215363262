#include "server/redis_client.h"

#include <hiredis/hiredis.h>

#include <cerrno>
#include <charconv>

#include "core/error.h"

namespace prtkl::server {

namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;  // nil
  }
  return out;
}

timeval to_timeval(int ms) { return {ms / 1000, (ms % 1000) * 1000}; }

int parse_int(const std::string& text, const std::string& url, const char* what) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    fail("Redis URL ", redacted_redis_url(url), ": the ", what, " \"", text, "\" is not a number");
  return v;
}

}  // namespace

const RedisReply& RedisReply::operator[](size_t i) const {
  if (type != Type::kArray || i >= elements.size())
    fail("unexpected reply from Redis: asked for element ", i, " of ",
         type == Type::kArray ? std::to_string(elements.size()) + " elements" : "a non-array");
  return elements[i];
}

std::string stream_field(const RedisReply& entry, const std::string& name) {
  const auto& fields = entry[1];
  for (size_t f = 0; f + 1 < fields.size(); f += 2)
    if (fields[f].str == name) return fields[f + 1].str;
  return "";
}

std::string redacted_redis_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto start = scheme == std::string::npos ? 0 : scheme + 3;
  // The same '@' parse_redis_url splits at: the last one, so a password holding '@' is hidden whole.
  const auto at = url.rfind('@');
  if (at == std::string::npos || at < start) return url;
  const auto userinfo = url.substr(start, at - start);
  const auto colon = userinfo.find(':');
  const auto user = colon == std::string::npos ? std::string() : userinfo.substr(0, colon);
  return url.substr(0, start) + user + ":***" + url.substr(at);
}

RedisAddress parse_redis_url(const std::string& url) {
  RedisAddress a;
  std::string rest = url;
  if (rest.rfind("redis://", 0) == 0) rest = rest.substr(8);
  else if (rest.find("://") != std::string::npos) fail("Redis URL ", redacted_redis_url(url), ": only redis:// is supported");
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    auto user = rest.substr(0, at);
    if (const auto colon = user.find(':'); colon != std::string::npos) user = user.substr(colon + 1);
    a.password = user;
    rest = rest.substr(at + 1);
  }
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    if (slash + 1 < rest.size()) a.db = parse_int(rest.substr(slash + 1), url, "database");
    rest = rest.substr(0, slash);
  }
  if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
    a.port = parse_int(rest.substr(colon + 1), url, "port");
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) a.host = rest;
  if (a.port <= 0 || a.port > 65535) fail("Redis URL ", redacted_redis_url(url), ": the port must be in [1, 65535]");
  return a;
}

RedisClient::RedisClient(RedisAddress address) : address_(std::move(address)) { connect(); }

RedisClient::~RedisClient() {
  if (context_) redisFree(context_);
}

void RedisClient::connect() {
  if (context_) redisFree(context_);
  context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, to_timeval(3000));
  const auto where = address_.host + ":" + std::to_string(address_.port);
  if (!context_) fail("cannot reach Redis at ", where, ": out of memory");
  if (context_->err) {
    const std::string why = context_->errstr;
    redisFree(context_);
    context_ = nullptr;
    fail("cannot reach Redis at ", where, ": ", why);
  }
  if (!address_.password.empty()) command({"AUTH", address_.password});
  if (address_.db != 0) command({"SELECT", std::to_string(address_.db)});
}

RedisReply RedisClient::command(const std::vector<std::string>& args, int timeout_ms) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  for (int attempt = 0;; ++attempt) {
    if (!context_ || context_->err) connect();
    redisSetTimeout(context_, to_timeval(timeout_ms));
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (!r) {
      const std::string why = context_->errstr;
      const bool timed_out = context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
      redisFree(context_);
      context_ = nullptr;
      // A connection Redis dropped (a restart) is worth one new one; a reply that never came is not.
      if (attempt == 0 && !timed_out) continue;
      fail("Redis ", args.front(), ": ", timed_out ? "no reply within " + std::to_string(timeout_ms) + " ms" : why);
    }
    const bool error = r->type == REDIS_REPLY_ERROR;
    const std::string message = error ? std::string(r->str, r->len) : "";
    auto out = convert(r);
    freeReplyObject(r);
    if (error) fail("Redis ", args.front(), ": ", message);
    return out;
  }
}

RedisReply RedisPool::command(const std::vector<std::string>& args, int timeout_ms) {
  std::unique_ptr<RedisClient> client;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!client) client = std::make_unique<RedisClient>(address_);
  auto reply = client->command(args, timeout_ms);  // a client that threw is dropped, not returned
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(client));
  return reply;
}

}  // namespace prtkl::server
