#include "server/request_limits.h"

#include "core/error.h"

namespace prtkl::server {

Json parse_json_bounded(const std::string& text) {
  // `depth` is the number of containers around the one starting: the callback sees each before it is built.
  const Json::parser_callback_t depth_check = [](int depth, Json::parse_event_t event, Json&) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      fail("JSON nested deeper than ", kMaxJsonDepth, " levels");
    return true;
  };
  try {
    return Json::parse(text, depth_check);
  } catch (const Json::exception& e) {
    fail("not valid JSON: ", e.what());
  }
}

}  // namespace prtkl::server
