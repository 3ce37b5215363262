#include "server/http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include "core/base64.h"
#include "core/error.h"
#include "core/file_util.h"
#include "core/image.h"
#include "interpret/http.h"
#include "interpret/sanitize.h"
#include "server/a1111_api.h"
#include "server/bounded_head_server.h"
#include "diffusion/models_folder.h"
#include "server/curation.h"
#include "server/model_slot.h"
#include "server/peer_closed.h"
#include "server/pipeline_renderer.h"
#include "server/request_limits.h"
#include "server/static_files.h"

namespace prtkl::server {

namespace fs = std::filesystem;

namespace {

constexpr int kEventWaitMs = 15000;  // an event stream sends a keep-alive comment after this much silence
constexpr int kOpenAIWaitMs = 600000;
constexpr int kDisconnectPollMs = 500;  // how often a waiting OpenAI request checks that its client is still there

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

void reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  // Replace invalid UTF-8 (a bad request echoed in an error message) instead of failing the reply.
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, {{"error", message}});
}

// OpenAI clients expect {"error": {"message", "type"}}.
Json openai_error(const std::string& message) {
  return {{"error", {{"message", message}, {"type", "invalid_request_error"}}}};
}
void reply_openai_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, openai_error(message));
}

// Answers and ends the connection: the refused request's body, if any, was never read, so the connection cannot
// carry another request. cpp-httplib closes a connection whose response body fails to write, so a provider
// writes the body and then reports failure.
void refuse(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_header("Connection", "close");
  auto text = std::make_shared<std::string>(body.dump(-1, ' ', false, Json::error_handler_t::replace));
  res.set_content_provider(text->size(), "application/json", [text](size_t offset, size_t, httplib::DataSink& sink) {
    sink.write(text->data() + offset, text->size() - offset);
    return false;
  });
}

Json parse_body(const httplib::Request& req) {
  Json j;
  try {
    j = parse_json_bounded(req.body);
  } catch (const Error& e) {
    fail("the request body is ", e.what());
  }
  if (!j.is_object()) fail("the request body must be a JSON object");
  return j;
}

// A field that is absent, null or a string; "" for the first two.
std::string optional_string(const Json& body, const char* name, const char* what) {
  if (!body.contains(name) || body[name].is_null()) return "";
  if (!body[name].is_string()) fail(what, " must be a string");
  return body[name].get<std::string>();
}

int64_t query_int(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name.c_str())) return fallback;
  const auto text = req.get_param_value(name.c_str());
  try {
    size_t used = 0;
    const auto v = std::stoll(text, &used);
    if (used == text.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  fail("query parameter ", name, " must be an integer in [", lo, ", ", hi, "], got '", text, "'");
}

uint64_t random_seed() {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  return rng() & 0x7fffffffu;
}

void serve_file(httplib::Response& res, const std::string& root, const std::string& rel_path) {
  if (is_unsafe_path(rel_path)) return reply_error(res, 400, "bad path");
  const auto file = resolve_under(root, rel_path);
  if (!file) return reply_error(res, 404, "not found");
  // No status: httplib makes it 206 for a range (a set 200 went out with the partial body).
  res.set_content(read_file(*file), mime_type(*file).c_str());
}

// Result, candidate and sweep folders may hold anything a user put there; of it only pictures, JSON, particle
// binaries and text are served, never a page or script that would run on this origin.
bool servable_result(const std::string& path) {
  static const std::set<std::string> types = {".png", ".jpg", ".jpeg", ".webp", ".json", ".bin", ".txt"};
  return types.count(fs::path(path).extension().string()) > 0;
}

Json candidate_json(const Candidate& c) {
  return {{"id", c.id},
          {"image_url", "/files/curation/" + c.file_name},
          {"caption", c.caption},
          {"decision", c.decision.empty() ? Json(nullptr) : Json(c.decision)}};
}

// The socket of the connection `req` came on. cpp-httplib 0.11.4 tells a handler neither the socket nor that
// the client left, so look it up by the connection's two ports among this process's sockets. -1 if not found.
int connection_socket(const httplib::Request& req) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0)
      continue;
    auto port = [](const sockaddr_storage& a) {
      if (a.ss_family == AF_INET) return int(ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port));
      if (a.ss_family == AF_INET6) return int(ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port));
      return -1;
    };
    if (port(local) == req.local_port && port(peer) == req.remote_port) return fd;
  }
  return -1;
}

std::string sse(const JobEvent& e) { return "event: " + e.name + "\ndata: " + e.data.dump() + "\n\n"; }

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

// A held-open request's share of the limits; released when the response is done.
class HttpServer::StreamSlot {
 public:
  StreamSlot(HttpServer& server, std::string job_id) : server_(server), job_id_(std::move(job_id)) {}
  ~StreamSlot() { server_.streams_.release(job_id_); }

 private:
  HttpServer& server_;
  std::string job_id_;
};

std::unique_ptr<HttpServer::StreamSlot> HttpServer::take_stream_slot(const std::string& job_id) {
  return streams_.take(job_id) ? std::make_unique<StreamSlot>(*this, job_id) : nullptr;
}

bool HttpServer::watched(const std::string& job_id) {
  return streams_.count(job_id) > 1;  // beyond the OpenAI request's own slot
}

std::optional<Job> HttpServer::run_held_job(const httplib::Request& req, httplib::Response& res, Job job,
                                           const ErrorBody& error_body) {
  // The request waits for its images, holding its thread: it takes a stream slot like an event stream.
  const auto slot = take_stream_slot(job.id);
  if (!slot) {
    res.set_header("Retry-After", "5");
    refuse(res, 503, error_body(503, "too many requests in progress, retry later"));
    return std::nullopt;
  }
  job.kind = "prompt";
  job.key = job.prompt;
  job.model = model_id();
  job.created_ms = now_ms();
  job.created_at = iso8601(job.created_ms);
  const auto r = jobs_.submit(job);
  if (r.outcome == SubmitResult::Outcome::kQueueFull) {
    res.set_header("Retry-After", std::to_string(r.retry_after_s));
    reply(res, 429, error_body(429, "the queue is full, retry later"));
    return std::nullopt;
  }
  // A client that hangs up meanwhile takes its job with it, unless an event stream still watches the job.
  const int fd = connection_socket(req);
  std::optional<Job> done;
  for (int waited = 0; waited < kOpenAIWaitMs; waited += kDisconnectPollMs) {
    done = jobs_.wait(job.id, kDisconnectPollMs);
    if (!done || (done->state != JobState::kQueued && done->state != JobState::kRunning)) break;
    if (fd >= 0 && peer_closed(fd) && !watched(job.id)) {
      jobs_.cancel(job.id);
      std::cerr << "job " << job.id << " cancelled: its client went away\n";
      return std::nullopt;
    }
  }
  if (!done || done->state == JobState::kQueued || done->state == JobState::kRunning) {
    reply(res, 504, error_body(504, "the image is not ready yet: poll /api/jobs/" + job.id));
    return std::nullopt;
  }
  if (done->state == JobState::kError) {
    reply(res, 500, error_body(500, done->error));
    return std::nullopt;
  }
  return done;
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
  routes();
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

std::vector<std::pair<std::string, std::string>> HttpServer::switchable_models() const {
  std::vector<std::pair<std::string, std::string>> out = {{model_id(), model_id()}};
  if (!options_.model_slot) return out;
  const auto listed = [&](const std::string& name) {
    return std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == name; });
  };
  // The model the server started with (its loader reloads it, flags and adapters included, by its id).
  if (!options_.model.empty() && !listed(options_.model)) out.emplace_back(options_.model, options_.model);
  // The models folder's, by their path there: a same-named folder where the server runs is never loaded instead.
  for (const auto& e : list_models(models_dir()))
    if (e.kind == "model" && e.error.empty() && !listed(e.name)) out.emplace_back(e.name, e.path);
  return out;
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

void HttpServer::routes() {
  auto& h = *http_;

  h.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    Job job;
    try {
      const auto body = parse_body(req);
      if (!body.contains("word") || !body["word"].is_string()) fail("field \"word\" (a string) is required");
      job.word = body["word"].get<std::string>();
      job.style = job_style(optional_string(body, "style", "field \"style\""));
      job.key = word_cache_key(normalize_word(job.word), job.style);
      job.seed = random_seed();
      if (body.contains("seed") && !body["seed"].is_null()) {
        const auto& s = body["seed"];
        if (!s.is_number_integer() || s.get<int64_t>() < 0) fail("field \"seed\" must be a non-negative integer");
        job.seed = s.get<uint64_t>();
      }
    } catch (const Error& e) {
      return reply_error(res, 400, e.what());
    }
    job.id = new_job_id();
    job.model = model_id();
    job.created_ms = now_ms();
    job.created_at = iso8601(job.created_ms);
    const auto r = jobs_.submit(job);
    using O = SubmitResult::Outcome;
    if (r.outcome == O::kQueueFull) {
      res.set_header("Retry-After", std::to_string(r.retry_after_s));
      return reply_error(res, 429, "the queue is full, retry in " + std::to_string(r.retry_after_s) + " s");
    }
    reply(res, r.outcome == O::kCached ? 200 : 202,
          {{"id", r.job.id}, {"state", to_string(r.job.state)}, {"cached", r.outcome == O::kCached}});
  });

  h.Get(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = req.matches[1].str();
    const auto job = valid_job_id(id) ? jobs_.get(id) : std::nullopt;
    if (!job) return reply_error(res, 404, "unknown job id");
    reply(res, 200, job->to_json());
  });

  h.Get(R"(/api/jobs/([^/]+)/events)", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = req.matches[1].str();
    if (!valid_job_id(id) || !jobs_.get(id)) return reply_error(res, 404, "unknown job id");
    // Each stream holds a request thread for as long as it is open: a bounded number, so streams can never take
    // every thread (a new generate must still get one).
    std::shared_ptr<StreamSlot> slot = take_stream_slot(id);
    if (!slot) {
      res.set_header("Retry-After", "5");
      return refuse(res, 503, {{"error", "too many open event streams; poll /api/jobs/" + id + " instead"}});
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto cursor = std::make_shared<size_t>(0);
    // `slot` rides along: it is released when the stream ends and the provider is destroyed.
    res.set_chunked_content_provider("text/event-stream", [this, id, cursor, slot](size_t, httplib::DataSink& sink) {
      const auto batch = jobs_.events(id, *cursor, kEventWaitMs);
      if (!batch) return false;
      std::string out;
      for (const auto& e : batch->events) out += sse(e);
      if (out.empty()) out = ": keep-alive\n\n";
      if (!sink.write(out.data(), out.size())) return false;
      *cursor = batch->next_cursor;
      if (batch->closed) sink.done();
      return true;
    });
  });

  // The page's way to the cookie its <img> and EventSource requests carry (they cannot send a header): the gate
  // has checked the token this request brings. HttpOnly keeps it from scripts (a page on another port of the same
  // host shares the cookie jar), SameSite=Strict from other sites' requests.
  h.Post("/api/session", [this](const httplib::Request&, httplib::Response& res) {
    if (!options_.token.empty())
      res.set_header("Set-Cookie", "prtkl_token=" + options_.token +
                                       "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict");
    reply(res, 200, {{"token", !options_.token.empty()}});
  });

  h.Get("/api/gallery", [this](const httplib::Request& req, httplib::Response& res) {
    int64_t page, per_page;
    try {
      page = query_int(req, "page", 0, 0, 1000000);
      per_page = query_int(req, "per_page", 24, 1, 100);
    } catch (const Error& e) {
      return reply_error(res, 400, e.what());
    }
    Json items = Json::array();
    for (const auto& job : jobs_.gallery(page * per_page, per_page)) items.push_back(job.to_json());
    reply(res, 200, {{"items", items}, {"page", page}, {"per_page", per_page}, {"total", jobs_.gallery_size()}});
  });

  h.Get("/api/health", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200,
          {{"status", "ok"},
           {"model", model_id()},
           {"style", options_.model_slot ? Json(job_style("")) : Json(nullptr)},
           {"styles", style_names()},
           {"queue", {{"length", jobs_.queue_length()}, {"capacity", jobs_.capacity()}}},
           {"worker", jobs_.busy() ? "busy" : "idle"},
           {"workers", jobs_.workers()}});
  });

  // The served model's styles for the page's style switch; behind Redis none are known here.
  h.Get("/api/styles", [this](const httplib::Request&, httplib::Response& res) {
    Json styles = Json::array();
    if (!options_.model_slot) return reply(res, 200, {{"styles", styles}, {"default", nullptr}});
    const auto catalog = options_.model_slot->styles();
    for (const auto& st : catalog.styles) styles.push_back({{"name", st.name}, {"description", st.description}});
    reply(res, 200, {{"styles", styles}, {"default", catalog.default_name}});
  });

  h.Post("/v1/images/generations", [this](const httplib::Request& req, httplib::Response& res) {
    Job job;
    std::string format = "url";
    try {
      const auto body = parse_body(req);
      if (!body.contains("prompt") || !body["prompt"].is_string() || body["prompt"].get<std::string>().empty())
        fail("'prompt' (a non-empty string) is required");
      job.prompt = body["prompt"].get<std::string>();
      if (job.prompt.size() > 4000) fail("'prompt' is longer than 4000 bytes");
      job.count = 1;
      if (body.contains("n") && !body["n"].is_null()) {
        if (!body["n"].is_number_integer() || body["n"].get<int64_t>() < 1 ||
            body["n"].get<int64_t>() > options_.max_images)
          fail("'n' must be an integer from 1 to ", options_.max_images);
        job.count = body["n"].get<int64_t>();
      }
      if (body.contains("size") && !body["size"].is_null()) {
        const auto size = body["size"].is_string() ? body["size"].get<std::string>() : std::string("?");
        const auto x = size.find('x');
        try {
          if (x == std::string::npos) throw std::invalid_argument("no x");
          size_t u1 = 0, u2 = 0;
          job.width = std::stoll(size.substr(0, x), &u1);
          job.height = std::stoll(size.substr(x + 1), &u2);
          if (u1 != x || u2 != size.size() - x - 1) throw std::invalid_argument("junk");
        } catch (const std::exception&) {
          fail("'size' must look like \"512x512\", got \"", size, "\"");
        }
        for (auto side : {job.width, job.height})
          if (side < 64 || side > options_.max_image_side || side % 8 != 0)
            fail("'size' sides must be multiples of 8 from 64 to ", options_.max_image_side);
        if (job.count * job.width * job.height > options_.max_pixels)
          fail("n × width × height is ", job.count * job.width * job.height, " pixels, more than this server's ",
               options_.max_pixels, " per request");
      }
      // DALL·E 3's own values ("vivid", "natural") leave the default style; anything else names a prtkl style.
      const auto style = optional_string(body, "style", "'style'");
      job.style = job_style(style == "vivid" || style == "natural" ? "" : style);
      if (body.contains("response_format") && !body["response_format"].is_null()) {
        format = body["response_format"].is_string() ? body["response_format"].get<std::string>() : "";
        if (format != "url" && format != "b64_json") fail("'response_format' must be \"url\" or \"b64_json\"");
      }
    } catch (const Error& e) {
      return reply_openai_error(res, 400, e.what());
    }
    job.id = new_job_id();
    job.seed = random_seed();
    const auto done = run_held_job(req, res, job, [](int, const std::string& m) { return openai_error(m); });
    if (!done) return;
    Json data = Json::array();
    for (int64_t i = 0; i < done->count; ++i) {
      const auto name = "image-" + std::to_string(i) + ".png";
      if (format == "url") {
        // OpenAI's clients (its SDK, Open WebUI) fetch the URL as it is: an absolute one.
        data.push_back({{"url", public_base(req) + "/files/jobs/" + job.id + "/" + name}, {"revised_prompt", job.prompt}});
      } else {
        const auto file = fs::path(PipelineRenderer::job_dir(options_.data_dir, job.id)) / name;
        data.push_back({{"b64_json", base64_encode(read_file(file.string()))}, {"revised_prompt", job.prompt}});
      }
    }
    reply(res, 200, {{"created", done->created_ms / 1000}, {"data", data}});
  });

  a1111_routes();

  h.Get("/api/curation", [this](const httplib::Request&, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    Json list = Json::array();
    for (const auto& c : curation_->candidates()) list.push_back(candidate_json(c));
    // The folder's name only: answers carry no server paths (the log has the whole one).
    reply(res, 200, {{"candidates", list}, {"train_dir", fs::path(curation_->train_dir()).filename().string()}});
  });
  h.Post("/api/curation/export", [this](const httplib::Request&, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    if (!curation_->export_owned())
      return reply_error(res, 409,
                         "the training folder holds files that no export wrote: start prtkl serve with an "
                         "empty or new --train-dir");
    const int written = curation_->export_kept();
    std::cerr << "curation: " << written << " written to " << curation_->train_dir() << "\n";
    reply(res, 200, {{"written", written}, {"folder", fs::path(curation_->train_dir()).filename().string()}});
  });
  h.Post(R"(/api/curation/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!curation_) return reply_error(res, 404, "curation is off: start prtkl serve with --curation DIR");
    std::string decision;
    try {
      const auto body = parse_body(req);
      const Json d = body.value("decision", Json(nullptr));  // depth-bounded by parse_body: copying is safe
      if (!d.is_null() && (!d.is_string() || (d != "keep" && d != "reject")))
        fail("\"decision\" must be \"keep\", \"reject\" or null");
      decision = d.is_null() ? "" : d.get<std::string>();
    } catch (const Error& e) {
      return reply_error(res, 400, e.what());
    }
    const auto id = req.matches[1].str();
    const auto known = curation_->candidates();
    if (std::none_of(known.begin(), known.end(), [&](const Candidate& c) { return c.id == id; }))
      return reply_error(res, 404, "unknown candidate");
    // Anything else that fails (writing decisions.json) is the server's: the exception handler's 500, path logged.
    reply(res, 200, candidate_json(curation_->decide(id, decision)));
  });

  h.Get("/api/sweep", [this](const httplib::Request&, httplib::Response& res) {
    if (options_.sweep_dir.empty()) return reply_error(res, 404, "no sweep: start prtkl serve with --sweep DIR");
    auto sweep = read_json_file((fs::path(options_.sweep_dir) / "sweep.json").string());
    for (auto& cell : sweep["cells"]) cell["url"] = "/files/sweep/" + cell.value("file", std::string());
    reply(res, 200, sweep);
  });

  h.Get(R"(/files/(jobs|curation|sweep)(/.*))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto area = req.matches[1].str();
    std::string root;
    if (area == "jobs") root = (fs::path(options_.data_dir) / "jobs").string();
    if (area == "curation" && curation_) root = curation_->dir();
    if (area == "sweep") root = options_.sweep_dir;
    if (root.empty() || !servable_result(req.matches[2].str())) return reply_error(res, 404, "not found");
    serve_file(res, root, req.matches[2].str());
  });

  h.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    serve_file(res, options_.web_root, req.path);
  });
}

// AUTOMATIC1111's API (a1111_api.h) over the same queue, limits and store. Clients build URLs from a base that
// often ends in "/", so "//sdapi/..." is answered too.
void HttpServer::a1111_routes() {
  auto& h = *http_;
  h.Get(R"(/+sdapi/v1/options)", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_options(model_id()));
  });
  // Clients post back the whole options object with the checkpoint changed; only the checkpoint matters here. Only
  // a name GET /sdapi/v1/sd-models lists is loaded, and every refusal (a path, a name not listed, a listed model
  // that fails to load) gets one answer: nothing a client sends is looked up on disk, nothing tells it what exists.
  h.Post(R"(/+sdapi/v1/options)", [this](const httplib::Request& req, httplib::Response& res) {
    Json body;
    try {
      body = parse_body(req);
    } catch (const Error& e) {
      return reply(res, 422, a1111_error("ValidationError", e.what()));
    }
    const auto current = model_id();
    if (!body.contains("sd_model_checkpoint") || body["sd_model_checkpoint"] == current)
      return reply(res, 200, nullptr);
    const auto& wanted = body["sd_model_checkpoint"];
    const auto refuse_switch = [&] {
      // A1111's answer to a checkpoint it does not know (a 500 RuntimeError), which its clients expect.
      reply(res, 500, a1111_error("RuntimeError", "model not found: sd_model_checkpoint must be one of the names "
                                                  "GET /sdapi/v1/sd-models lists; the served model stays"));
    };
    if (!options_.model_slot || !wanted.is_string()) return refuse_switch();
    std::string target;
    for (const auto& [name, load_as] : switchable_models())
      if (name == wanted.get<std::string>()) target = load_as;
    if (target.empty()) return refuse_switch();
    // Loads while the request waits, as A1111 does; jobs keep running on the current model meanwhile.
    try {
      options_.model_slot->switch_to(target);
    } catch (const Error& e) {
      std::cerr << "switching to model " << target << " failed: " << e.what() << "\n";
      return refuse_switch();
    }
    reply(res, 200, nullptr);
  });
  h.Get(R"(/+sdapi/v1/sd-models)", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<std::string> names;
    for (const auto& entry : switchable_models()) names.push_back(entry.first);
    reply(res, 200, a1111_models(names));
  });
  h.Get(R"(/+sdapi/v1/prompt-styles)", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<StyleTemplate> templates;
    const auto catalog = options_.model_slot ? options_.model_slot->styles() : StyleCatalog{};
    for (const auto& st : catalog.styles) templates.push_back({st.name, st.prompt_template});
    reply(res, 200, a1111_prompt_styles(templates));
  });
  h.Get(R"(/+sdapi/v1/samplers)", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_samplers());
  });
  h.Get(R"(/+sdapi/v1/schedulers)", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, a1111_schedulers());
  });
  h.Get(R"(/+sdapi/v1/progress)", [this](const httplib::Request&, httplib::Response& res) {
    const auto count = static_cast<int64_t>(jobs_.queue_length()) + (jobs_.busy() ? 1 : 0);
    reply(res, 200,
          {{"progress", 0},
           {"eta_relative", 0},
           {"state",
            {{"skipped", false}, {"interrupted", false}, {"stopping_generation", false}, {"job", ""},
             {"job_count", count}, {"job_timestamp", "0"}, {"job_no", 0}, {"sampling_step", 0},
             {"sampling_steps", 0}}},
           {"current_image", nullptr},
           {"textinfo", nullptr}});
  });
  h.Post(R"(/+sdapi/v1/txt2img)", [this](const httplib::Request& req, httplib::Response& res) {
    Json body;
    Job job;
    try {
      body = parse_body(req);
      job = parse_txt2img(body, {options_.max_images, options_.max_image_side, options_.max_pixels}, random_seed());
      job.style = job_style(a1111_style(body, style_names()));
    } catch (const Error& e) {
      return reply(res, 422, a1111_error("ValidationError", e.what()));
    }
    job.id = new_job_id();
    const auto done = run_held_job(req, res, job, [](int status, const std::string& m) {
      return a1111_error(status == 500 ? "RuntimeError" : "HTTPException", m);
    });
    if (!done) return;
    std::vector<std::string> images, infotexts;
    for (int64_t i = 0; i < done->count; ++i) {
      const auto file = fs::path(PipelineRenderer::job_dir(options_.data_dir, job.id)) /
                        ("image-" + std::to_string(i) + ".png");
      images.push_back(base64_encode(read_file(file.string())));
      const auto text = read_png_text(file.string());
      infotexts.push_back(text.count("parameters") ? text.at("parameters") : "");
    }
    reply(res, 200, txt2img_reply(*done, body, images, infotexts));
  });
}

}  // namespace prtkl::server
