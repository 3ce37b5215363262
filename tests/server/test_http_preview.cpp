// Previews over real sockets (POST /api/generate with "preview": true): a client's new preview replaces its last,
// a full job never waits behind one for more than one of its steps, and previews stay out of the store, the cache
// and the gallery.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/base64.h"
#include "diffusion/model_loader.h"
#include "interpret/interpreter.h"
#include "particles/particles.h"
#include "server/http_test_server.h"
#include "server/pipeline_renderer.h"

namespace prtkl::server {
namespace {

using namespace test_http;

Json post_generate(const TestServer& s, const Json& body, int* status = nullptr) {
  const auto resp = raw(s.port, post_request(s.host(), "/api/generate", "application/json", body.dump()));
  if (status) *status = status_of(resp);
  const auto text = body_of(resp);
  return text.empty() ? Json() : Json::parse(text);
}

Json get_job(const TestServer& s, const std::string& id) {
  return Json::parse(body_of(raw(s.port, get_request(s.host(), "/api/jobs/" + id))));
}

// The job once `done` says so; fails the test after 10 s.
Json wait_job(const TestServer& s, const std::string& id, const std::function<bool(const Json&)>& done) {
  Json job;
  for (int i = 0; i < 1000; ++i) {
    job = get_job(s, id);
    if (done(job)) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "job " << id << " never got there: " << job.dump();
  return job;
}
bool running(const Json& j) { return j["state"] == "running"; }
bool finished(const Json& j) { return j["state"] == "done" || j["state"] == "error"; }

std::string preview(const TestServer& s, const std::string& word, const std::string& client) {
  int status = 0;
  const auto r = post_generate(s, {{"word", word}, {"preview", true}, {"client", client}}, &status);
  EXPECT_EQ(status, 202) << r.dump();
  EXPECT_EQ(r["preview"], true);
  return r.value("id", "");
}

std::string full_job(const TestServer& s, const std::string& word) {
  int status = 0;
  const auto r = post_generate(s, {{"word", word}}, &status);
  EXPECT_EQ(status, 202) << r.dump();
  return r.value("id", "");
}

TEST(HttpPreview, ANewPreviewCancelsTheClientsLastOneRunningOrQueued) {
  TestServer s("preview_replaces");
  s.renderer.hold = true;
  const auto ca = preview(s, "ca", "tab-1");
  wait_job(s, ca, running);
  const auto cat = preview(s, "cat", "tab-1");
  const auto other = preview(s, "dog", "tab-2");  // another client's preview is not touched
  auto old = wait_job(s, ca, finished);
  EXPECT_EQ(old["state"], "error");
  EXPECT_EQ(old["error"], kReplacedMessage) << "the running preview stops at its next step";
  wait_job(s, cat, running);

  // Queued behind a full job, a replaced preview ends at once, without running.
  const auto full = full_job(s, "tree");
  wait_job(s, full, running);
  const auto cats = preview(s, "cats", "tab-1");
  old = wait_job(s, cat, finished);
  EXPECT_EQ(old["error"], kPreemptedMessage);
  const auto catsu = preview(s, "catsu", "tab-1");
  old = wait_job(s, cats, finished);
  EXPECT_EQ(old["error"], kReplacedMessage);
  EXPECT_EQ(get_job(s, other)["state"], "queued");
  const auto log = s.renderer.log();
  EXPECT_EQ(std::count(log.begin(), log.end(), cats + " start"), 0) << "a replaced queued preview never runs";

  s.renderer.hold = false;
  EXPECT_EQ(wait_job(s, full, finished)["state"], "done");
  EXPECT_EQ(wait_job(s, catsu, finished)["state"], "done");
  EXPECT_EQ(wait_job(s, other, finished)["state"], "done");
}

TEST(HttpPreview, AFullJobWaitsForAtMostOnePreviewStep) {
  TestServer s("preview_yields");
  s.renderer.hold = true;
  const auto sketch = preview(s, "moo", "tab-1");
  wait_job(s, sketch, running);
  const auto full = full_job(s, "moon");  // queued now: every later report of the preview throws
  s.renderer.note("full job queued");
  wait_job(s, full, running);
  EXPECT_EQ(get_job(s, sketch)["error"], kPreemptedMessage);
  const auto log = s.renderer.log();
  const auto queued = std::find(log.begin(), log.end(), "full job queued");
  const auto started = std::find(log.begin(), log.end(), full + " start");
  ASSERT_LT(queued, started);
  EXPECT_LE(std::count(queued, started, sketch + " step"), 1) << "the preview ran on after the full job came";

  // A preview asked for while a full job waits stays behind it.
  const auto second = full_job(s, "sun");
  const auto later = preview(s, "su", "tab-1");
  s.renderer.hold = false;
  wait_job(s, later, finished);
  const auto order = s.renderer.log();
  EXPECT_LT(std::find(order.begin(), order.end(), second + " start"),
            std::find(order.begin(), order.end(), later + " start"));
}

TEST(HttpPreview, EnterEndsTheTabsPreviewThatWouldRunAfterIt) {
  TestServer s("preview_enter");
  s.renderer.hold = true;
  const auto busy = full_job(s, "tree");  // another user's job runs: previews wait
  wait_job(s, busy, running);
  const auto mine = preview(s, "moo", "tab-1");
  const auto theirs = preview(s, "su", "tab-2");
  int status = 0;
  const auto r = post_generate(s, {{"word", "moon"}, {"client", "tab-1"}}, &status);  // Enter in tab-1
  ASSERT_EQ(status, 202) << r.dump();
  const auto ended = wait_job(s, mine, finished);
  EXPECT_EQ(ended["error"], kPreemptedMessage) << "a queued preview of the tab ends when its full job comes";
  EXPECT_EQ(get_job(s, theirs)["state"], "queued") << "another tab's preview is not touched";
  s.renderer.hold = false;
  EXPECT_EQ(wait_job(s, r["id"].get<std::string>(), finished)["state"], "done");
  wait_job(s, theirs, finished);
  const auto log = s.renderer.log();
  EXPECT_EQ(std::count(log.begin(), log.end(), mine + " start"), 0) << "the ended preview never ran";
}

TEST(HttpPreview, PreviewsAreNotStoredCachedOrInTheGallery) {
  TestServer s("preview_not_kept");
  const auto sketch = preview(s, "rain", "tab-1");
  const auto job = wait_job(s, sketch, finished);
  EXPECT_EQ(job["state"], "done");
  EXPECT_EQ(job["kind"], "preview");
  EXPECT_TRUE(job["image_url"].is_null() && job["particles_url"].is_null()) << job.dump();
  EXPECT_FALSE(s.store.get(sketch)) << "previews live in memory only";
  EXPECT_FALSE(fs::exists(fs::path(s.dir) / "data" / "jobs" / sketch));
  const auto gallery = Json::parse(body_of(raw(s.port, get_request(s.host(), "/api/gallery"))));
  EXPECT_EQ(gallery["total"], 0) << gallery.dump();

  // The same word and seed as a full job is drawn, not answered from the preview.
  int status = 0;
  const auto r = post_generate(s, {{"word", "rain"}, {"seed", job["seed"]}}, &status);
  EXPECT_EQ(status, 202);
  EXPECT_EQ(r["cached"], false);
  wait_job(s, r["id"].get<std::string>(), finished);
  EXPECT_EQ(Json::parse(body_of(raw(s.port, get_request(s.host(), "/api/gallery"))))["total"], 1);
}

TEST(HttpPreview, RefusesBadFieldsAndTooManyClients) {
  TestServer s("preview_refuses");
  int status = 0;
  auto r = post_generate(s, {{"word", "a"}, {"preview", "yes"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"], "field \"preview\" must be true or false");
  r = post_generate(s, {{"word", "a"}, {"preview", true}, {"client", "../tab"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"].get<std::string>().find("client"), std::string::npos) << r.dump();

  s.renderer.hold = true;
  wait_job(s, full_job(s, "busy"), running);
  for (int i = 0; i < 4; ++i) preview(s, "w", "tab-" + std::to_string(i));
  r = post_generate(s, {{"word", "w"}, {"preview", true}, {"client", "tab-4"}}, &status);
  EXPECT_EQ(status, 429) << r.dump();
  preview(s, "wo", "tab-0");  // a client with a preview waiting may still replace it
}

// The real renderer on the tiny fixture model: half the steps, a quarter of the particles, and those in the event.
TEST(HttpPreview, APreviewIsDrawnInHalfTheStepsWithItsParticlesInTheEvent) {
  const auto dir = test::scratch_dir("preview_renderer");
  const auto model_path = test::fixture_path("tiny-sd15");
  auto model = load_model(model_path, {});
  auto interpreter = Interpreter::create({}, load_model_prompt(model_path));
  RenderSettings rs;
  rs.steps = 4;
  rs.particle_count = 800;
  rs.data_dir = dir;
  PipelineRenderer renderer(model, interpreter, rs);
  JobStore store(dir + "/jobs.sqlite");
  JobService jobs(store, renderer, 4);
  Job job;
  job.id = new_job_id();
  job.word = job.key = "cat";
  job.seed = 3;
  job.created_ms = now_ms();
  const auto id = jobs.submit_preview(job, "tab").job.id;
  ASSERT_TRUE(jobs.wait(id, 60000));
  std::vector<JobEvent> events;
  for (size_t cursor = 0;;) {
    auto batch = jobs.events(id, cursor, 1000);
    ASSERT_TRUE(batch);
    events.insert(events.end(), batch->events.begin(), batch->events.end());
    cursor = batch->next_cursor;
    if (batch->closed) break;
  }
  const auto done = *jobs.get(id);
  ASSERT_EQ(done.state, JobState::kDone) << done.error;
  EXPECT_EQ(done.steps, 2);
  const auto particles =
      std::find_if(events.begin(), events.end(), [](const JobEvent& e) { return e.name == "particles"; });
  ASSERT_NE(particles, events.end());
  const std::string prefix = "data:application/octet-stream;base64,";
  const auto data = particles->data["data"].get<std::string>();
  ASSERT_EQ(data.rfind(prefix, 0), 0u);
  const auto set = particles_from_binary(base64_decode(data.substr(prefix.size())), "the preview's particles");
  EXPECT_EQ(int64_t(set.particles.size()), particles->data["count"].get<int64_t>());
  EXPECT_GE(set.particles.size(), 200u);
  EXPECT_LT(set.particles.size(), 400u) << "a quarter of 800";
  for (const auto& e : events) EXPECT_FALSE(e.name == "step" && e.data.contains("preview")) << "no latent images";
  EXPECT_FALSE(fs::exists(PipelineRenderer::job_dir(dir, id)));
}

}  // namespace
}  // namespace prtkl::server
