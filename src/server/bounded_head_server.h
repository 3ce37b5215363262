// An httplib::Server whose connections are bounded where cpp-httplib 0.11.4 (Debian 12's) leaves them open:
// - each request's head (request line and headers) is read under a size bound and checked against RFC 9112
//   (request_head.h) before httplib parses it. httplib checks a header line's length only once the line is
//   complete, so one endless header line grew memory for as long as a client kept sending;
// - the whole request, head and body, must arrive within a deadline from its first byte. httplib restarts its read
//   timeout with every byte, so a client trickling a byte every few seconds held a request thread for good;
// - every connection gets a thread of its own, up to a cap in all and per client address (503 beyond). httplib's
//   fixed thread pool let a few dozen slow connections take every thread, and /api/health went unanswered.
// All of it happens before any handler, the request gate included, can run. Newer httplib releases bound some of
// it (0.20.1); this does it with the hooks 0.11.4 has: the task queue (`new_task_queue`) and the connection loop
// (`process_and_close_socket`, virtual) around `process_request` (protected), fed by a stream of our own.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/http.h"
#include "server/capped_counts.h"

namespace prtkl::server {

struct HeadLimits {
  size_t max_bytes = 64 << 10;  // request line and headers; the gate's own limits (16 KiB of headers) fit inside
  int timeout_s = 10;           // from a request's first byte to the end of its body
  int max_connections = 512;    // open connections in all (each holds a thread)
  int max_connections_per_address = 128;
  httplib::Headers headers;     // what the refusal carries besides its status (the server's security headers)
};

class BoundedHeadServer : public httplib::Server {
 public:
  explicit BoundedHeadServer(HeadLimits limits);

  // The socket `req` came on, for a handler that watches its client while it waits (peer_closed.h): cpp-httplib
  // 0.11.4 tells a handler neither the socket nor that the client left. -1 for a request not being answered.
  int socket_of(const httplib::Request& req) const;

 private:
  // A head over the limits gets 431 (too large), 400 (malformed) or 408 (too slow, body included), a connection
  // over the caps 503; then the connection is closed.
  bool process_and_close_socket(socket_t sock) override;
  HeadLimits limits_;
  CappedCounts connections_;  // per client address
  mutable std::mutex sockets_mutex_;
  std::map<const httplib::Request*, int> sockets_;  // the requests being answered, with their sockets
};

}  // namespace prtkl::server
