#include "diffusion/models_folder.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/safetensors.h"
#include "diffusion/model_loader.h"

namespace prtkl {

namespace fs = std::filesystem;

namespace {

int64_t size_on_disk(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_directory(p)) return static_cast<int64_t>(fs::file_size(p, ec));
  int64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(p, ec))
    if (e.is_regular_file(ec)) total += static_cast<int64_t>(e.file_size(ec));
  return total;
}

bool is_weights_file(const fs::path& p) { return fs::is_regular_file(p) && p.extension() == ".safetensors"; }

// The dtype most tensors have.
std::string main_dtype(const std::map<std::string, int64_t>& counts) {
  std::string best;
  int64_t most = -1;
  for (const auto& [d, n] : counts)
    if (n > most) most = n, best = d;
  return best;
}

}  // namespace

std::string models_dir() {
  if (const char* d = std::getenv("PRTKL_MODELS"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return (fs::path(x) / "prtkl" / "models").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".local" / "share" / "prtkl" / "models").string();
}

std::string find_in_models(const std::string& name, const std::string& subdir) {
  if (name.empty() || fs::exists(name)) return name;
  const fs::path dir = fs::path(models_dir()) / subdir;
  for (const auto& candidate : {dir / name, dir / (name + ".safetensors")})
    if (fs::exists(candidate)) return candidate.string();
  return name;
}

std::vector<ModelsEntry> list_models(const std::string& dir) {
  std::vector<ModelsEntry> out;
  if (!fs::is_directory(dir)) return out;
  auto sorted = [](const fs::path& d) {
    std::vector<fs::path> v;
    if (fs::is_directory(d))
      for (const auto& e : fs::directory_iterator(d)) v.push_back(e.path());
    std::sort(v.begin(), v.end());
    return v;
  };
  for (const auto& p : sorted(dir)) {
    const bool folder = fs::is_directory(p) && fs::exists(p / "model_index.json");
    if (!folder && !is_weights_file(p)) continue;  // lora/, embeddings/, notes, partial downloads
    ModelsEntry e;
    e.name = folder ? p.filename().string() : p.stem().string();
    e.path = p.string();
    e.kind = "model";
    e.bytes = size_on_disk(p);
    try {
      const auto info = inspect_model(p.string());
      e.family = family_name(info.family);
      e.layout = info.format;
      std::map<std::string, int64_t> counts;
      for (const auto& c : info.components)
        for (const auto& [d, n] : c.dtypes) counts[d] += n;
      e.dtype = main_dtype(counts);
    } catch (const Error& err) {
      e.error = err.what();
    }
    out.push_back(std::move(e));
  }
  for (const auto& [sub, kind] : {std::pair<const char*, const char*>{"lora", "lora"}, {"embeddings", "embedding"}, {"vae", "vae"}})
    for (const auto& p : sorted(fs::path(dir) / sub)) {
      if (!is_weights_file(p)) continue;
      ModelsEntry e;
      e.name = p.stem().string();
      e.path = p.string();
      e.kind = kind;
      e.layout = "safetensors";
      e.bytes = size_on_disk(p);
      try {
        const auto st = SafeTensors::open(p.string());
        std::map<std::string, int64_t> counts;
        for (const auto& n : st.names()) ++counts[st.info(n).dtype];
        e.dtype = main_dtype(counts);
      } catch (const Error& err) {
        e.error = err.what();
      }
      out.push_back(std::move(e));
    }
  return out;
}

}  // namespace prtkl
