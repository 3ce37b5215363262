// NOTICE names every third-party component prtkl ships, bundles or links (issue 45): each npm package esbuild put
// into web/dist (web/dist/bundled-packages.json, written by web/build.mjs from esbuild's metafile) and each one the
// web app's lock file would bundle, with its license; every part of the bundled model and the data packages it was
// trained on; every folder of third_party/; every library the prtkl binary links. A component added without a
// NOTICE entry fails here. `prtkl --version` points to NOTICE.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "core/file_util.h"
#include "core/json_config.h"
#include "support/fixtures.h"

using namespace prtkl;
namespace fs = std::filesystem;

namespace {

// NOTICE with its lines joined by single spaces, so a name wrapped over two lines is still found; each "== "
// heading starts a new line.
std::string notice() {
  std::istringstream lines(read_file(test::source_dir() + "/NOTICE"));
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    out += (line.rfind("== ", 0) == 0 ? "\n" : " ") + line.substr(first);
  }
  return out;
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }

// Where `token` stands in `text` as a whole name (not inside a longer one: "emojibase" is not named by
// "emojibase-data"), or npos.
size_t find_name(const std::string& text, const std::string& token) {
  for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at + 1)) {
    const bool starts = at == 0 || !is_name_char(token.front()) || !is_name_char(text[at - 1]);
    const size_t end = at + token.size();
    const bool ends = end == text.size() || !is_name_char(token.back()) || !is_name_char(text[end]);
    if (starts && ends) return at;
  }
  return std::string::npos;
}

// The NOTICE section (from its "== " heading to the next) that names `token`, or "" when none does.
std::string section_naming(const std::string& text, const std::string& token) {
  const size_t at = find_name(text, token);
  if (at == std::string::npos) return "";
  const size_t head = text.rfind("\n== ", at);
  const size_t begin = head == std::string::npos ? 0 : head + 1;
  const size_t next = text.find("\n== ", at);
  return text.substr(begin, next == std::string::npos ? std::string::npos : next - begin);
}

// The packages of an npm lock file that are not dev dependencies ("node_modules/a/node_modules/b" -> "b"), with
// their license as npm recorded it.
std::map<std::string, std::string> shipped_packages(const std::string& lock_path) {
  const auto lock = Json::parse(read_file(lock_path));
  std::map<std::string, std::string> out;
  for (const auto& [key, entry] : lock.at("packages").items()) {
    if (key.empty() || entry.value("dev", false)) continue;
    const auto slash = key.rfind("node_modules/");
    out[key.substr(slash + std::string("node_modules/").size())] = entry.value("license", "");
  }
  return out;
}

void expect_named_with_license(const std::string& text, const std::string& package, const std::string& license,
                               const std::string& where) {
  const auto token = "npm package \"" + package + "\"";
  const auto section = section_naming(text, token);
  ASSERT_FALSE(section.empty()) << where << " ships " << package << " (" << license << "), but NOTICE has no " << token
                                << ": add a section with its license and attribution";
  EXPECT_FALSE(license.empty()) << package << " in " << where << " states no license";
  EXPECT_NE(section.find(license), std::string::npos)
      << "NOTICE's section on " << package << " does not name its license " << license << ":\n"
      << section;
}

}  // namespace

TEST(Notice, NamesTheWebLocksBundledPackagesWithTheirLicenses) {
  const auto text = notice();
  const auto packages = shipped_packages(test::source_dir() + "/web/package-lock.json");
  ASSERT_FALSE(packages.empty()) << "web/package-lock.json lists no dependency of the page: is it the right file?";
  for (const auto& [name, license] : packages) expect_named_with_license(text, name, license, "web/package-lock.json");
}

TEST(Notice, NamesEveryPackageInTheBuiltWebBundle) {
  const auto dist = test::source_dir() + "/web/dist";
  if (!fs::exists(dist + "/bundled-packages.json")) {
    PRTKL_SKIP_OR_FAIL_ON_CI("web/dist/bundled-packages.json missing: run `make web`");
  }
  const auto text = notice();
  const auto bundled = Json::parse(read_file(dist + "/bundled-packages.json"));
  ASSERT_TRUE(bundled.is_array());
  for (const auto& p : bundled) {
    expect_named_with_license(text, p.at("name"), p.value("license", ""), "web/dist");
    EXPECT_TRUE(fs::is_regular_file(dist + "/" + p.at("license_file").get<std::string>()))
        << p.at("name") << "'s license text is not in web/dist";
  }
  // What the page's footer links is this NOTICE, not an older one.
  EXPECT_EQ(read_file(dist + "/NOTICE.txt"), read_file(test::source_dir() + "/NOTICE"))
      << "web/dist/NOTICE.txt is stale: run `make web`";
  EXPECT_EQ(read_file(dist + "/LICENSE.txt"), read_file(test::source_dir() + "/LICENSE"));
  for (const auto* page : {"index.html", "curation.html", "sweep.html"}) {
    EXPECT_NE(read_file(dist + "/" + page).find("href=\"/NOTICE.txt\""), std::string::npos)
        << page << "'s footer does not link the attributions";
  }
}

TEST(Notice, NamesEveryPartOfTheBundledModelAndItsTrainingData) {
  const auto text = notice();
  const auto model = test::source_dir() + "/models/prtkl-emoji";
  std::vector<std::string> parts;
  for (const auto& e : fs::directory_iterator(model)) parts.push_back(e.path().filename().string());
  if (fs::is_directory(model + "/styles")) {
    for (const auto& e : fs::directory_iterator(model + "/styles")) {
      parts.push_back("styles/" + e.path().filename().string());
    }
  }
  ASSERT_GE(parts.size(), 5u);
  for (const auto& part : parts) {
    if (part == "styles") continue;  // the folder itself: each style in it is named
    EXPECT_NE(find_name(text, "models/prtkl-emoji/" + part), std::string::npos)
        << "models/prtkl-emoji/" << part << " is not named in NOTICE: say what it is and under which license";
  }
  // The pictures and names it was trained on (the recipe's npm packages).
  const auto data = shipped_packages(test::source_dir() + "/models/recipe/package-lock.json");
  ASSERT_FALSE(data.empty());
  for (const auto& [name, license] : data) {
    expect_named_with_license(text, name, license, "models/recipe/package-lock.json (the model's training data)");
  }
}

TEST(Notice, NamesEveryThirdPartyFolder) {
  const auto text = notice();
  for (const auto& e : fs::directory_iterator(test::source_dir() + "/third_party")) {
    EXPECT_NE(find_name(text, "third_party/" + e.path().filename().string()), std::string::npos)
        << e.path() << " is not named in NOTICE";
  }
}

TEST(Notice, NamesEveryLibraryTheBinaryLinks) {
  const auto bin = test::prtkl_binary();
  if (!fs::exists(bin)) PRTKL_SKIP_OR_FAIL_ON_CI("no prtkl binary at " << bin);
  const auto r = test::run_command("readelf -d '" + bin + "'");
  if (r.code != 0) PRTKL_SKIP_OR_FAIL_ON_CI("readelf -d failed: " << r.output);
  const auto text = notice();
  std::istringstream lines(r.output);
  int needed = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto open = line.find("Shared library: [");
    if (open == std::string::npos) continue;
    const auto soname = line.substr(open + 17, line.find(']', open) - open - 17);  // libtorch_cpu.so.1.13
    const auto name = soname.substr(0, soname.find(".so") + 3);                    // libtorch_cpu.so
    ++needed;
    EXPECT_NE(find_name(text, name), std::string::npos)
        << "prtkl links " << soname << ", which NOTICE does not name (write it as " << name << ")";
  }
  EXPECT_GT(needed, 3) << r.output;
}

TEST(CliVersion, PrintsTheVersionAndPointsToNotice) {
  const auto r = test::run_command(test::prtkl_binary() + " --version");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("prtkl 0.1.0\n", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("see NOTICE"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Apache License 2.0"), std::string::npos) << r.output;
}
