#include "server/request_gate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "core/base64.h"
#include "core/error.h"
#include "core/http.h"

namespace prtkl::server {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// Headers cpp-httplib adds to every request itself (the peer's and our address); not the client's.
bool added_by_httplib(const std::string& name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) return true;
  return name.size() > 2 && name.front() == '[' && name.back() == ']' &&
         inet_pton(AF_INET6, name.substr(1, name.size() - 2).c_str(), buf) == 1;
}

// "name", "name:port", "[v6]" or "[v6]:port" -> (name, port); port -1 when absent, -2 when malformed.
std::pair<std::string, int> split_host(const std::string& host) {
  const auto colon = host.rfind(':');
  if (colon == std::string::npos || (host.front() == '[' && host.back() == ']')) return {host, -1};
  const auto port = host.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return {host, -2};
  return {host.substr(0, colon), std::stoi(port)};
}

bool host_allowed(const GateOptions& o, const std::string& host_header) {
  const auto [name, port] = split_host(lower(host_header));
  if (name.empty() || port == -2) return false;
  for (const auto& h : o.allowed_hosts)
    if (name == lower(h)) return true;
  // A rebound DNS name is the attacker's; an IP literal or localhost cannot be re-pointed by anyone.
  const bool ours = name == "localhost" || name == lower(o.host) || is_ip_literal(name);
  return ours && (port == -1 ? 80 : port) == o.port;
}

std::string strip_default_port(const std::string& scheme, const std::string& authority) {
  const std::string port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
  if (!port.empty() && authority.size() > port.size() &&
      authority.compare(authority.size() - port.size(), port.size(), port) == 0)
    return authority.substr(0, authority.size() - port.size());
  return authority;
}

// The page's own origin is scheme://<the Host it was served under>; anything else (another site, "null" from a
// sandboxed frame or a file:// page) is foreign.
bool origin_is_own(const std::string& origin, const std::string& host_header) {
  const auto sep = origin.find("://");
  if (sep == std::string::npos) return false;
  const auto scheme = lower(origin.substr(0, sep));
  const auto authority = lower(origin.substr(sep + 3));
  if (authority.empty() || authority.find('/') != std::string::npos) return false;
  return strip_default_port(scheme, authority) == strip_default_port(scheme, lower(host_header));
}

bool same_secret(const std::string& a, const std::string& b) {  // no early exit: timing says nothing
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

// The token from "Authorization: Bearer …", or the password of "Basic user:password" (AUTOMATIC1111 clients
// speak --api-auth), else from the prtkl_token cookie (what the page's <img> and EventSource requests carry:
// they cannot set headers).
std::string presented_token(const httplib::Request& req) {
  const auto auth = req.get_header_value("Authorization");
  if (lower(auth.substr(0, 7)) == "bearer ") return auth.substr(7);
  if (lower(auth.substr(0, 6)) == "basic ") {
    try {
      const auto pair = base64_decode(auth.substr(6), "Basic credentials");
      const auto colon = pair.find(':');
      return colon == std::string::npos ? "" : pair.substr(colon + 1);
    } catch (const Error&) {
      return "";
    }
  }
  const auto cookies = req.get_header_value("Cookie");
  const std::string key = "prtkl_token=";
  for (size_t pos = 0; pos < cookies.size();) {
    auto end = cookies.find(';', pos);
    if (end == std::string::npos) end = cookies.size();
    auto item = cookies.substr(pos, end - pos);
    item.erase(0, item.find_first_not_of(' '));
    if (item.rfind(key, 0) == 0) return item.substr(key.size());
    pos = end + 1;
  }
  return "";
}

std::string token_defect(const std::string& token) {
  if (token.empty()) return "";
  if (token.size() < kMinTokenLength)
    return "the access token is shorter than " + std::to_string(kMinTokenLength) +
           " characters: make one with `openssl rand -hex 32`";
  if (token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != std::string::npos)
    return "the access token has characters other than letters, digits and - . _ ~: make one with `openssl rand -hex 32`";
  return "";
}

bool is_loopback_host(const std::string& host) {
  const auto h = lower(host);
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  in_addr addr{};
  return inet_pton(AF_INET, h.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

bool needs_token(const std::string& path) {
  const auto first = path.find_first_not_of('/');  // "//sdapi/..." is "/sdapi/..."
  const std::string p = first == std::string::npos ? "/" : "/" + path.substr(first);
  return p.rfind("/api/", 0) == 0 || p.rfind("/v1/", 0) == 0 || p.rfind("/files/", 0) == 0 ||
         p.rfind("/sdapi/", 0) == 0;
}

std::optional<Refusal> check_request(const GateOptions& o, const httplib::Request& req) {
  size_t count = 0, bytes = 0;
  for (const auto& [name, value] : req.headers) {
    if (added_by_httplib(name)) continue;
    ++count;
    bytes += name.size() + value.size();
  }
  if (count > o.max_headers || bytes > o.max_header_bytes) return Refusal{431, "request headers too large"};

  if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") return Refusal{405, "method not allowed"};
  // Bodies must declare their size: cpp-httplib reads chunked and length-less bodies without any limit.
  if (req.has_header("Transfer-Encoding")) return Refusal{411, "chunked request bodies are not accepted"};
  // cpp-httplib inflates gzip, deflate and br bodies as it reads them, with no limit on what they inflate to (the
  // body limit counts the encoded bytes): no coding at all is accepted, "identity" included.
  if (req.has_header("Content-Encoding")) return Refusal{415, "request bodies must not have a Content-Encoding"};
  const bool has_length = req.has_header("Content-Length");
  const auto length = req.get_header_value("Content-Length");
  if (has_length &&
      (length.empty() || length.size() > 18 || length.find_first_not_of("0123456789") != std::string::npos))
    return Refusal{400, "bad Content-Length"};
  if (req.method == "POST") {
    if (!has_length) return Refusal{411, "a POST needs a Content-Length"};
    if (std::stoull(length) > o.max_body) return Refusal{413, "request body too large"};
  } else if (has_length && std::stoull(length) > 0) {
    return Refusal{400, "a " + req.method + " request has no body"};
  }

  if (!host_allowed(o, req.get_header_value("Host"))) return Refusal{403, "this server does not answer to that Host"};
  if (req.has_header("Origin") && !origin_is_own(req.get_header_value("Origin"), req.get_header_value("Host")))
    return Refusal{403, "cross-origin requests are not accepted"};

  if (!o.token.empty() && needs_token(req.path) && !same_secret(presented_token(req), o.token))
    return Refusal{401, "this server needs its access token (Authorization: Bearer …)"};

  if (req.method == "POST") {
    auto type = lower(req.get_header_value("Content-Type"));
    type = type.substr(0, type.find(';'));
    type.erase(type.find_last_not_of(' ') + 1);
    if (type != "application/json") return Refusal{415, "the request body must be application/json"};
  }
  return std::nullopt;
}

}  // namespace prtkl::server
