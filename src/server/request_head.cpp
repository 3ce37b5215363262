#include "server/request_head.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

namespace prtkl::server {

namespace {

bool is_tchar(unsigned char c) { return std::isalnum(c) || (c < 0x80 && std::strchr("!#$%&'*+-.^_`|~", c) && c); }
bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::optional<std::string> request_line_defect(std::string_view line) {
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return "the request line is not METHOD SP target SP version";
  const auto method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
             version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), [](unsigned char c) { return is_tchar(c); }))
    return "the request method is not a token";
  if (target.empty() || std::any_of(target.begin(), target.end(), [](unsigned char c) { return is_ctl(c); }))
    return "the request target is empty or has control characters";
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return "the HTTP version is not HTTP/1.0 or HTTP/1.1";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> head_defect(std::string_view head) {
  // Lines end in CRLF; a CR or LF anywhere else is a line end that another parser may see and this one not.
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) return "a bare CR in the request head";
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return "a bare LF in the request head";
  }
  static const std::map<std::string, bool> single = {  // header -> must not be empty
      {"host", true},          {"content-length", true}, {"transfer-encoding", true}, {"content-encoding", true},
      {"content-type", false}, {"authorization", false}, {"origin", false},           {"range", true}};
  std::map<std::string, int> seen;
  size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    const auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos) return "the request head does not end in a blank line";
    const auto line = head.substr(pos, end - pos);
    pos = end + 2;
    if (first) {
      first = false;
      if (auto d = request_line_defect(line)) return d;
      continue;
    }
    if (line.empty()) break;  // the blank line
    if (line.front() == ' ' || line.front() == '\t') return "a folded header line (obsolete line folding)";
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return "a header line without a colon";
    const auto name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return is_tchar(c); }))
      return "a header name that is not a token (whitespace before the colon?)";
    auto value = line.substr(colon + 1);
    if (std::any_of(value.begin(), value.end(), [](unsigned char c) { return is_ctl(c) && c != '\t'; }))
      return "a control character in a header value";
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    const auto key = lower(name);
    const auto rule = single.find(key);
    if (rule == single.end()) continue;
    if (++seen[key] > 1) return "more than one " + std::string(name) + " header";
    if (rule->second && value.empty()) return "an empty " + std::string(name) + " header";
  }
  if (first) return "no request line";
  if (!seen.count("host")) return "no Host header";
  return std::nullopt;
}

}  // namespace prtkl::server
