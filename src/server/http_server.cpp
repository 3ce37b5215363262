// The server's setup: listening, the limits on connections and request framing (bounded_head_server.h), the
// request gate and the error handler. The routes live in routes_*.cpp, one file per API.
#include "server/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <iostream>

#include "core/error.h"
#include "server/a1111_api.h"
#include "server/bounded_head_server.h"
#include "server/model_slot.h"
#include "server/routes.h"

namespace prtkl::server {

namespace {

// Every response: no MIME sniffing (a result file is never run as a page), and pages may load and connect to
// this origin only, run no inline script, never be framed. 'unsafe-eval' because the p5 bundle's regenerator
// runtime falls back to Function() in strict mode; inline scripts stay blocked.
const httplib::Headers kSecurityHeaders = {
    {"X-Content-Type-Options", "nosniff"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self' 'unsafe-eval'; img-src 'self' data: blob:; object-src 'none'; "
     "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"},
    {"Referrer-Policy", "no-referrer"}};

HeadLimits head_limits(const ServerOptions& options) {
  HeadLimits limits;
  limits.timeout_s = options.request_timeout_s;
  limits.max_connections = options.max_connections;
  limits.max_connections_per_address = options.max_connections_per_address;
  limits.headers = kSecurityHeaders;
  return limits;
}

}  // namespace

std::string HttpServer::public_base(const httplib::Request& req) const {
  if (!options_.public_url.empty()) return options_.public_url;
  return "http://" + req.get_header_value("Host");  // the gate let it through: this server's own name
}

void check_exposure(const ServerOptions& options) {
  if (!is_loopback_host(options.host) && options.token.empty())
    fail("--host ", options.host, " is reachable from other machines: set an access token (--token or PRTKL_TOKEN)");
  // A reverse proxy makes the server reachable by whoever reaches the proxy.
  if (!options.allowed_hosts.empty() && options.token.empty())
    fail("--allow-host ", options.allowed_hosts.front(),
         " makes the server reachable through a proxy: set an access token (--token or PRTKL_TOKEN)");
  if (const auto defect = token_defect(options.token); !defect.empty()) fail(defect);
}

HttpServer::HttpServer(JobQueue& jobs, ServerOptions options, Curation* curation)
    : jobs_(jobs), options_(std::move(options)), curation_(curation),
      http_(std::make_unique<BoundedHeadServer>(head_limits(options_))),
      streams_(options_.max_streams, options_.max_streams_per_job) {
  check_exposure(options_);
  gate_.host = options_.host;
  gate_.token = options_.token;
  gate_.allowed_hosts = options_.allowed_hosts;
  while (!options_.public_url.empty() && options_.public_url.back() == '/') options_.public_url.pop_back();
  if (!options_.public_url.empty() && options_.public_url.rfind("http://", 0) != 0 &&
      options_.public_url.rfind("https://", 0) != 0)
    fail("--public-url must start with http:// or https://, got '", options_.public_url, "'");
  http_->set_payload_max_length(gate_.max_body);
  http_->set_read_timeout(options_.read_timeout_s, 0);
  http_->set_default_headers(kSecurityHeaders);
  // The gate runs after the headers are read and before the body is (cpp-httplib's pre-routing handler).
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Several ranges are answered as multipart/byteranges built in memory, a copy of the file per range (129
    // ranges of the 1 MB bundle: 135 MB, no token needed). A server may ignore Range (RFC 9110 14.2): the whole
    // file goes once. httplib hands its own, mutable Request here as const.
    if (req.ranges.size() > 1) const_cast<httplib::Request&>(req).ranges.clear();
    const bool token_checked = !gate_.token.empty() && needs_token(req.path);
    std::optional<Refusal> refusal;
    if (const int locked = token_checked ? token_backoff_.locked_for(req.remote_addr) : 0) {
      res.set_header("Retry-After", std::to_string(locked));
      refusal = Refusal{429, "too many wrong access tokens from this address, retry later"};
    } else {
      refusal = check_request(gate_, req);
      if (token_checked && refusal && refusal->status == 401 && !presented_token(req).empty())
        token_backoff_.failed(req.remote_addr);
      else if (token_checked && (!refusal || refusal->status != 401))
        token_backoff_.succeeded(req.remote_addr);
    }
    if (!refusal) return httplib::Server::HandlerResponse::Unhandled;
    const bool openai = req.path.rfind("/v1/", 0) == 0;
    const bool a1111 = req.path.find("/sdapi/") != std::string::npos;
    if (refusal->status == 401) res.set_header("WWW-Authenticate", a1111 ? "Basic" : "Bearer");
    if (refusal->status == 405) res.set_header("Allow", "GET, HEAD, POST");
    if (refusal->status == 415) res.set_header("Accept-Encoding", "identity");  // RFC 9110 15.5.16
    refuse(res, refusal->status,
           openai ? openai_error(refusal->message)
                  : a1111 ? a1111_error("HTTPException", refusal->message) : Json{{"error", refusal->message}});
    return httplib::Server::HandlerResponse::Handled;
  });
  // Clients get a generic message; what went wrong (paths, SQLite, upstream URLs) goes to the log.
  http_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::cerr << req.method << " " << req.path << " failed: " << e.what() << "\n";
    } catch (...) {
      std::cerr << req.method << " " << req.path << " failed\n";
    }
    reply_error(res, 500, "internal error (the server log has the details)");
  });
  // In this order: a route's pattern is tried only if no earlier one matched, and the web app's catch-all is last.
  job_routes();
  openai_routes();
  a1111_routes();
  curation_routes();
  file_routes();
}

HttpServer::~HttpServer() { stop(); }

std::string HttpServer::job_style(const std::string& requested) const {
  if (!options_.model_slot) return requested;
  const auto catalog = options_.model_slot->styles();
  const auto* style = catalog.find(requested);
  return style ? style->name : kNoStyle;
}

std::vector<std::string> HttpServer::style_names() const {
  return options_.model_slot ? options_.model_slot->styles().names() : std::vector<std::string>{};
}

std::string HttpServer::model_id() const {
  if (options_.model_slot) return options_.model_slot->id();
  if (!options_.model.empty()) return options_.model;
  // Workers in other processes (Redis): the model the first of them holds; jobs for it wait until one is back.
  for (const auto& w : jobs_.workers())
    if (w.contains("model")) return w["model"];
  return "";
}

int HttpServer::bind() {
  // cpp-httplib listens with a backlog of 5 (fixed when Debian compiled it), so a burst of clients overflows
  // the accept queue and connections get dropped. Remember the listening socket and widen its backlog after bind.
  auto listen_socket = std::make_shared<int>(-1);
  // Not httplib's default options: they add SO_REUSEPORT, which lets a second server bind the same port.
  http_->set_socket_options([listen_socket](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // restart while old connections linger
    *listen_socket = sock;
  });
  if (options_.port == 0) {
    const int port = http_->bind_to_any_port(options_.host);
    if (port < 0) fail("cannot bind ", options_.host, ": no free port");
    options_.port = port;
  } else if (!http_->bind_to_port(options_.host.c_str(), options_.port)) {
    fail("cannot bind ", options_.host, ":", options_.port, " (in use? try --port)");
  }
  if (*listen_socket >= 0) ::listen(*listen_socket, SOMAXCONN);  // Linux updates the backlog of a listening socket
  gate_.port = options_.port;
  return options_.port;
}

void HttpServer::listen() { http_->listen_after_bind(); }

void HttpServer::stop() {
  jobs_.shutdown();  // wakes event streams so their threads can end
  if (http_->is_running()) http_->stop();
}

}  // namespace prtkl::server
