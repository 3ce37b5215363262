// What the route files of the HTTP server (routes_*.cpp, registered by http_server.cpp) share: JSON replies in the
// shapes the APIs use, and reading a request's body and query.
#pragma once
#include <cstdint>
#include <string>

#include "core/http.h"
#include "core/json_config.h"

namespace prtkl::server {

void reply(httplib::Response& res, int status, const Json& body);
void reply_error(httplib::Response& res, int status, const std::string& message);  // {"error": message}

// OpenAI clients expect {"error": {"message", "type"}}.
Json openai_error(const std::string& message);

// Answers and ends the connection: the refused request's body, if any, was never read, so the connection cannot
// carry another request.
void refuse(httplib::Response& res, int status, const Json& body);

// The body as a JSON object, parsed within the depth bound; throws prtkl::Error saying what is wrong with it.
Json parse_body(const httplib::Request& req);
// A field that is absent, null or a string; "" for the first two. Throws prtkl::Error naming it as `what`.
std::string optional_string(const Json& body, const char* name, const char* what);
// Query parameter `name` as an integer in [lo, hi], `fallback` when absent; throws prtkl::Error otherwise.
int64_t query_int(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi);

uint64_t random_seed();  // a job's seed when the request names none

}  // namespace prtkl::server
