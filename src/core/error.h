// The one exception type of the project. It carries the context (file, tensor, field) in its message, so the
// CLI can print one line and exit 2 for bad input instead of aborting.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace prtkl {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// fail("file ", path, ": tensor ", name, " has shape ", shape) — builds the message from anything streamable.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

}  // namespace prtkl
