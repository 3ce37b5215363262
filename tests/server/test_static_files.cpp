#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/static_files.h"
#include "support/fixtures.h"

namespace prtkl::server {
namespace {

namespace fs = std::filesystem;

TEST(StaticFiles, RejectsClimbingSegments) {
  for (const char* p : {"/..", "/../x", "/a/../../x", "/a/..", "/./x", "/a\\..\\x", "x", "", "/a//../x"})
    EXPECT_TRUE(is_unsafe_path(p)) << p;
  EXPECT_TRUE(is_unsafe_path(std::string("/a\0b", 4)));
  for (const char* p : {"/", "/index.html", "/a/b.js", "/a..b/c", "/...", "/a/"}) EXPECT_FALSE(is_unsafe_path(p)) << p;
}

TEST(StaticFiles, ResolvesOnlyInsideTheRoot) {
  const auto dir = fs::path(test::scratch_dir("static_files"));
  fs::create_directories(dir / "web" / "sub");
  std::ofstream(dir / "web" / "index.html") << "home";
  std::ofstream(dir / "web" / "sub" / "index.html") << "sub";
  std::ofstream(dir / "web" / "app.js") << "js";
  std::ofstream(dir / "secret.txt") << "secret";
  fs::create_symlink(dir / "secret.txt", dir / "web" / "link.txt");
  const auto root = (dir / "web").string();
  EXPECT_EQ(resolve_under(root, "/"), fs::canonical(dir / "web" / "index.html").string());
  EXPECT_EQ(resolve_under(root, "/sub/"), fs::canonical(dir / "web" / "sub" / "index.html").string());
  EXPECT_EQ(resolve_under(root, "/app.js"), fs::canonical(dir / "web" / "app.js").string());
  EXPECT_FALSE(resolve_under(root, "/../secret.txt"));
  EXPECT_FALSE(resolve_under(root, "/missing.js"));
  EXPECT_FALSE(resolve_under(root, "/link.txt")) << "a symlink out of the root is not served";
  EXPECT_FALSE(resolve_under("", "/index.html"));
  EXPECT_EQ(mime_type("a/b.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type("x.bin"), "application/octet-stream");
}

}  // namespace
}  // namespace prtkl::server
