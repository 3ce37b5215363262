// Limits on what one request may make the server do, beyond the gate's (request_gate.h) and the connection's
// (bounded_head_server.h): here, how deep a JSON document may nest.
#pragma once
#include <string>

#include "core/json_config.h"

namespace prtkl::server {

// Containers (objects, arrays) inside one another. nlohmann's dump, copy and comparison recurse, one stack frame a
// level: a 1 MiB body of "[[[[…" is ~500k levels, enough to overflow a thread's stack. No request of the APIs
// nests deeper than 4.
inline constexpr int kMaxJsonDepth = 32;

// Parses `text`, refusing (prtkl::Error, "… nested deeper than 32 …") while parsing, before anything recurses over
// the document. Malformed JSON is a prtkl::Error too. Only the parser's own state grows with the nesting, on the
// heap.
Json parse_json_bounded(const std::string& text);

}  // namespace prtkl::server
