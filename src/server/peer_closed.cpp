#include "server/peer_closed.h"

#include <sys/socket.h>

#include <cerrno>

namespace prtkl::server {

bool peer_closed(int fd) {
  char byte;
  const auto n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace prtkl::server
