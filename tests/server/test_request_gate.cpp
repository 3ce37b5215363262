// The gate's decisions, one request at a time (test_http_security.cpp sends the same over real sockets).
#include <gtest/gtest.h>

#include "core/http.h"
#include "server/request_gate.h"

namespace prtkl::server {
namespace {

GateOptions options() {
  GateOptions o;
  o.host = "127.0.0.1";
  o.port = 8080;
  return o;
}

httplib::Request request(const std::string& method, const std::string& path, httplib::Headers headers = {}) {
  httplib::Request r;
  r.method = method;
  r.path = path;
  r.headers = std::move(headers);
  if (!r.has_header("Host")) r.headers.emplace("Host", "127.0.0.1:8080");
  if (method == "POST" && !r.has_header("Content-Length")) r.headers.emplace("Content-Length", "2");
  if (method == "POST" && !r.has_header("Content-Type")) r.headers.emplace("Content-Type", "application/json");
  return r;
}

int status(const GateOptions& o, const httplib::Request& r) {
  const auto refusal = check_request(o, r);
  return refusal ? refusal->status : 0;
}

TEST(RequestGate, HostMustBeTheServersOwn) {
  const auto o = options();
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080", "10.0.0.5:8080"})
    EXPECT_EQ(status(o, request("GET", "/", {{"Host", host}})), 0) << host;
  // A rebound name, a wrong port, junk.
  for (const char* host : {"evil.example:8080", "evil.example", "127.0.0.1:8081", "127.0.0.1", "localhost:80x", "",
                           "127.0.0.1:8080.evil.example"})
    EXPECT_EQ(status(o, request("GET", "/", {{"Host", host}})), 403) << host;
  auto proxied = options();
  proxied.allowed_hosts = {"prtkl.example.org"};
  EXPECT_EQ(status(proxied, request("GET", "/", {{"Host", "prtkl.example.org"}})), 0);
  EXPECT_EQ(status(proxied, request("GET", "/", {{"Host", "prtkl.example.org:443"}})), 0);
}

TEST(RequestGate, OriginMustBeTheServersOwn) {
  const auto o = options();
  EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Origin", "http://127.0.0.1:8080"}})), 0);
  // The scheme is not compared: behind a TLS proxy the page's origin is https while this server speaks http.
  for (const char* origin : {"http://evil.example", "null", "http://127.0.0.1:8081", "http://localhost:8080", "file://",
                             "http://127.0.0.1:8080/path"})
    EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Origin", origin}})), 403) << origin;
  EXPECT_EQ(status(o, request("GET", "/api/gallery", {{"Origin", "http://evil.example"}})), 403)
      << "a cross-origin read is refused too";
  // Behind a TLS proxy that passes the public Host on.
  auto proxied = options();
  proxied.allowed_hosts = {"prtkl.example.org"};
  EXPECT_EQ(status(proxied, request("POST", "/api/generate",
                                    {{"Host", "prtkl.example.org"}, {"Origin", "https://prtkl.example.org"}})),
            0);
}

TEST(RequestGate, PostsMustBeJsonOfDeclaredSize) {
  const auto o = options();
  for (const char* type :
       {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "application/jsonx", ""})
    EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Content-Type", type}})), 415) << type;
  EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Content-Type", "Application/JSON ; charset=utf-8"}})), 0);
  EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Transfer-Encoding", "chunked"}})), 411);
  auto no_length = request("GET", "/api/generate");
  no_length.method = "POST";
  no_length.headers.emplace("Content-Type", "application/json");
  EXPECT_EQ(status(o, no_length), 411);
  EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Content-Length", "1048577"}})), 413);
  EXPECT_EQ(status(o, request("POST", "/api/generate", {{"Content-Length", "-1"}})), 400);
  EXPECT_EQ(status(o, request("GET", "/", {{"Content-Length", "5"}})), 400);
  EXPECT_EQ(status(o, request("PUT", "/api/generate")), 405);
  EXPECT_EQ(status(o, request("OPTIONS", "/api/generate")), 405);
}

TEST(RequestGate, HeadersAreBounded) {
  const auto o = options();
  httplib::Headers many;
  for (int i = 0; i < 100; ++i) many.emplace("X-H" + std::to_string(i), "1");
  EXPECT_EQ(status(o, request("GET", "/", many)), 431);
  EXPECT_EQ(status(o, request("GET", "/", {{"Cookie", std::string(20000, 'a')}})), 431);
}

TEST(RequestGate, TokenGuardsTheApiAndFilesNotThePage) {
  auto o = options();
  o.token = "s3cret";
  EXPECT_EQ(status(o, request("GET", "/api/health")), 401);
  EXPECT_EQ(status(o, request("GET", "/files/jobs/j_0123456789abcdef/image.png")), 401);
  EXPECT_EQ(status(o, request("POST", "/v1/images/generations")), 401);
  EXPECT_EQ(status(o, request("GET", "/api/health", {{"Authorization", "Bearer wrong!"}})), 401);
  EXPECT_EQ(status(o, request("GET", "/api/health", {{"Authorization", "Bearer s3cret"}})), 0);
  EXPECT_EQ(status(o, request("GET", "/api/health", {{"Cookie", "a=b; prtkl_token=s3cret"}})), 0);
  EXPECT_EQ(status(o, request("GET", "/")), 0);
  EXPECT_EQ(status(o, request("GET", "/app.js")), 0);
}

TEST(RequestGate, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) EXPECT_TRUE(is_loopback_host(h)) << h;
  for (const char* h : {"0.0.0.0", "::", "192.168.1.2", "example.org", ""}) EXPECT_FALSE(is_loopback_host(h)) << h;
}

}  // namespace
}  // namespace prtkl::server
