// The syntax of a request's head (request line and header lines) as RFC 9112 writes it, checked on the raw bytes
// before cpp-httplib parses them. httplib 0.11.4 is lenient where a proxy in front may not be, and a difference in
// how two parsers frame a request is how requests get smuggled past the proxy: it keeps "Transfer-Encoding :
// chunked" under a name with a trailing space (so not as chunked), drops lines without a colon, with an empty value
// or ending in a bare LF, and lets the first of two Hosts or Content-Lengths win.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace prtkl::server {

// What is wrong with `head` (the request line through the blank line, CRLFs included), or nullopt when it is
// well formed: one request line `METHOD SP target SP HTTP/1.x`, header lines `name: value` ending in CRLF with a
// token for a name and no control characters but tab, no folded lines, exactly one Host, and at most one of the
// headers that frame or route a request (Content-Length, Transfer-Encoding, Content-Encoding, Content-Type,
// Authorization, Origin, Range), none of the framing ones empty.
std::optional<std::string> head_defect(std::string_view head);

}  // namespace prtkl::server
