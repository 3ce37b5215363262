// The server's trust boundary: one check that every request passes before it is routed and before its body is
// read. Binding to 127.0.0.1 keeps other machines out but not the user's own browser, which any web page can
// point at the server (a form post, a DNS-rebound name); the gate refuses what such a page can send:
// - a Host that is not the server's (DNS rebinding needs the attacker's domain name there),
// - an Origin other than the server's own,
// - a POST that is not application/json (a form can only post form encodings and text/plain),
// - request bodies whose size is not declared up front or is too large, compressed bodies, oversized headers,
// - API calls without the access token, when the server has one (required off loopback).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace httplib {
struct Request;
}

namespace prtkl::server {

struct GateOptions {
  std::string host;                        // the address the server is bound to
  int port = 0;                            // the bound port
  std::vector<std::string> allowed_hosts;  // more Host names, e.g. a reverse proxy's public name (any port)
  std::string token;                       // empty: no access token
  size_t max_body = 1 << 20;               // bytes of a POST body
  size_t max_headers = 64;                 // header lines of a request
  size_t max_header_bytes = 16 << 10;      // all header names and values together
};

struct Refusal {
  int status;
  std::string message;
};

// nullopt: the request may be routed. Only the request line and headers are looked at.
std::optional<Refusal> check_request(const GateOptions& options, const httplib::Request& req);

// The access token's rules: at least this long, of URL-safe characters (it travels in a cookie and a header).
inline constexpr size_t kMinTokenLength = 16;
// What is wrong with `token` ("" when it is fine, or empty: no token).
std::string token_defect(const std::string& token);

// What the request offers as the token: "Authorization: Bearer T", the password of "Basic user:T", or the
// prtkl_token cookie; "" for none.
std::string presented_token(const httplib::Request& req);

// True for 127.0.0.0/8, ::1 and "localhost": addresses only this machine can reach.
bool is_loopback_host(const std::string& host);
// Paths that need the token when there is one: the API and result files. The web app's own files do not (the
// page must load to ask for the token).
bool needs_token(const std::string& path);

}  // namespace prtkl::server
