// An httplib::Server whose connections read each request's head (request line and headers) under a size and a
// time bound. cpp-httplib 0.11.4 (Debian 12's) checks a header line's length only once the line is complete and
// restarts its read timeout with every byte, so one endless header line grew memory for as long as a client kept
// sending, and a client trickling a byte every few seconds held a request thread for good; both happen before any
// handler, the request gate included, can run. Newer releases bound both (0.20.1); this does it with the hook
// 0.11.4 has: the connection loop (`process_and_close_socket`, virtual) around `process_request` (protected), fed
// by a stream of our own.
#pragma once
#include <cstddef>
#include <utility>

#include "interpret/http.h"

namespace prtkl::server {

struct HeadLimits {
  size_t max_bytes = 64 << 10;  // request line and headers; the gate's own limits (16 KiB of headers) fit inside
  int timeout_s = 10;           // from a request's first byte to the end of its head
  httplib::Headers headers;     // what the refusal carries besides its status (the server's security headers)
};

class BoundedHeadServer : public httplib::Server {
 public:
  explicit BoundedHeadServer(HeadLimits limits) : limits_(std::move(limits)) {}

 private:
  // A head over the limits gets 431 (too large) or 408 (too slow) and the connection is closed.
  bool process_and_close_socket(socket_t sock) override;
  HeadLimits limits_;
};

}  // namespace prtkl::server
