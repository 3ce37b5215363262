// OpenAI's Images API (POST /v1/images/generations, docs/api.md): a prompt, held open until its images exist.
#include <filesystem>

#include "core/base64.h"
#include "core/error.h"
#include "core/file_util.h"
#include "server/bounded_head_server.h"
#include "server/http_server.h"
#include "server/pipeline_renderer.h"
#include "server/routes.h"

namespace prtkl::server {

namespace fs = std::filesystem;

void HttpServer::openai_routes() {
  http_->Post("/v1/images/generations", [this](const httplib::Request& req, httplib::Response& res) {
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
      return reply(res, 400, openai_error(e.what()));
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
}

}  // namespace prtkl::server
