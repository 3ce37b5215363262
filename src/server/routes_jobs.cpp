// The page's API (docs/api.md): a word becomes a job, a job's state and its events as they happen (server-sent
// events), the session cookie, the gallery, health and the served model's styles.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "interpret/sanitize.h"
#include "server/bounded_head_server.h"
#include "server/http_server.h"
#include "server/model_slot.h"
#include "server/routes.h"

namespace prtkl::server {

namespace {

constexpr int kEventWaitMs = 15000;  // an event stream sends a keep-alive comment after this much silence

std::string sse(const JobEvent& e) { return "event: " + e.name + "\ndata: " + e.data.dump() + "\n\n"; }

// Who a preview belongs to (a new one replaces the last of the same client): the page's "client" field, an id of
// its own per tab, else the request's address.
std::string preview_client(const Json& body, const httplib::Request& req) {
  const auto client = optional_string(body, "client", "field \"client\"");
  if (client.empty()) return req.remote_addr;
  const bool ok = client.size() <= 64 && std::all_of(client.begin(), client.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                  });
  if (!ok) fail("field \"client\" must be 1-64 letters, digits, - or _");
  return client;
}

}  // namespace

void HttpServer::job_routes() {
  auto& h = *http_;

  h.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    Job job;
    bool preview = false, body_client = false;
    std::string client;
    try {
      const auto body = parse_body(req);
      if (body.contains("preview") && !body["preview"].is_null()) {
        if (!body["preview"].is_boolean()) fail("field \"preview\" must be true or false");
        preview = body["preview"].get<bool>();
      }
      client = preview_client(body, req);
      body_client = body.contains("client");
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
    SubmitResult r{};
    if (!preview) {
      // Enter after typing: the page's last preview has nothing left to show.
      if (body_client) jobs_.end_preview(client);
      r = jobs_.submit(job);
    } else {
      try {
        r = jobs_.submit_preview(job, client);
      } catch (const Error& e) {  // a queue without previews (Redis)
        return reply_error(res, 501, e.what());
      }
    }
    using O = SubmitResult::Outcome;
    if (r.outcome == O::kQueueFull) {
      res.set_header("Retry-After", std::to_string(r.retry_after_s));
      return reply_error(res, 429, "the queue is full, retry in " + std::to_string(r.retry_after_s) + " s");
    }
    reply(res, r.outcome == O::kCached ? 200 : 202,
          {{"id", r.job.id},
           {"state", to_string(r.job.state)},
           {"cached", r.outcome == O::kCached},
           {"preview", preview}});
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
    const auto slot = take_stream_slot(id);
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
}

}  // namespace prtkl::server
