// A blocking Redis connection (Debian's libhiredis) for the shared job queue: commands as argument vectors (no
// string formatting, so any byte is safe in a value), replies as values, errors as prtkl::Error naming the
// command. A dropped connection (a restarted Redis) is reopened once before the next command fails.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct redisContext;

namespace prtkl::server {

struct RedisReply {
  enum class Type { kNil, kInteger, kString, kArray, kStatus } type = Type::kNil;
  int64_t integer = 0;
  std::string str;  // kString, kStatus
  std::vector<RedisReply> elements;

  bool nil() const { return type == Type::kNil; }
  const RedisReply& operator[](size_t i) const;  // throws prtkl::Error past the end or on a non-array
  size_t size() const { return elements.size(); }
};

// The value of `name` in a stream entry as XREAD, XREADGROUP and XAUTOCLAIM return it ([id, [field, value, ...]]);
// empty when the entry has no such field.
std::string stream_field(const RedisReply& entry, const std::string& name);

// redis://[:PASSWORD@]HOST[:PORT][/DB], or HOST:PORT.
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
};
RedisAddress parse_redis_url(const std::string& url);  // throws prtkl::Error naming the URL (redacted)
// The URL as it may be logged: a password (redis://:PASS@ or redis://USER:PASS@, or redis://PASS@, which
// parse_redis_url reads as a password) becomes *** ("redis://:***@host:6379/0"); the rest as given.
std::string redacted_redis_url(const std::string& url);

class RedisClient {
 public:
  explicit RedisClient(RedisAddress address);  // connects; throws prtkl::Error when Redis cannot be reached
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command. `timeout_ms` bounds the wait for the reply: a BLOCK command needs more than its block time.
  // A Redis error reply throws prtkl::Error with the command's name and Redis's message.
  RedisReply command(const std::vector<std::string>& args, int timeout_ms = 5000);

 private:
  void connect();
  RedisAddress address_;
  redisContext* context_ = nullptr;
};

// Connections for many threads: each call borrows one (a new one when all are busy), so a thread blocked in an
// XREAD never holds up the others.
class RedisPool {
 public:
  explicit RedisPool(RedisAddress address) : address_(std::move(address)) {}
  RedisReply command(const std::vector<std::string>& args, int timeout_ms = 5000);
  const RedisAddress& address() const { return address_; }

 private:
  RedisAddress address_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RedisClient>> idle_;
};

}  // namespace prtkl::server
