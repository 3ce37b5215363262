// Whether the other end of a connected socket has gone: a check for a client that may have left while its
// request is still being answered (an event stream, an OpenAI request waiting for its images).
#pragma once

namespace prtkl::server {

// True once the peer closed its side (a peek reads end-of-stream) or the connection broke; never blocks.
bool peer_closed(int fd);

}  // namespace prtkl::server
