// Base64 (RFC 4648, with padding): data: URLs for previews and the OpenAI Images API's b64_json.
#pragma once
#include <string>

namespace prtkl {

std::string base64_encode(const std::string& bytes);
// Throws prtkl::Error naming `what` on characters outside the alphabet or a bad length.
std::string base64_decode(const std::string& text, const std::string& what = "base64 data");

}  // namespace prtkl
