#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_util.h"

namespace prtkl {

namespace {

struct DtypeEntry {
  const char* name;
  torch::Dtype dtype;
};
const DtypeEntry kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"I64", torch::kInt64},   {"I32", torch::kInt32},   {"I16", torch::kInt16},   {"I8", torch::kInt8},
    {"U8", torch::kUInt8},    {"BOOL", torch::kBool},
};
// Valid in the format but not representable in this libtorch: reported as such rather than as garbage.
const char* kKnownUnsupported[] = {"F8_E4M3", "F8_E5M2", "U16", "U32", "U64"};

constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit

}  // namespace

torch::Dtype dtype_from_safetensors(const std::string& name, const std::string& context) {
  for (const auto& e : kDtypes)
    if (name == e.name) return e.dtype;
  for (const char* u : kKnownUnsupported)
    if (name == u) fail(context, ": dtype ", name, " is not supported by this build");
  fail(context, ": unknown dtype '", name, "'");
}

std::string dtype_to_safetensors(torch::Dtype dtype) {
  for (const auto& e : kDtypes)
    if (dtype == e.dtype) return e.name;
  fail("safetensors: cannot store dtype ", c10::toString(dtype));
}

struct SafeTensors::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) ::munmap(addr, size);
  }
  // Drops the whole pages inside [ptr, ptr+bytes) from the process; reading them again re-reads the file.
  void release(const void* ptr, size_t bytes) const {
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(ptr) + page - 1) / page * page;
    const auto end = (reinterpret_cast<uintptr_t>(ptr) + bytes) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
};

const TensorInfo& SafeTensors::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) fail(path_, ": no tensor named '", name, "'");
  return it->second;
}

SafeTensors SafeTensors::open(const std::string& path) {
  SafeTensors st;
  st.path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, ": cannot open (", std::strerror(errno), ")");
  struct stat sb {};
  if (::fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  const size_t file_size = static_cast<size_t>(sb.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(path, ": file is ", file_size, " bytes, too short for a safetensors header");
  }
  st.map_ = std::make_shared<Mapping>();
  st.map_->size = file_size;
  // Private mapping: tensors handed out may be modified in place without touching the file.
  st.map_->addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (st.map_->addr == MAP_FAILED) fail(path, ": mmap failed (", std::strerror(errno), ")");
  const auto* bytes = static_cast<const uint8_t*>(st.map_->addr);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeader) fail(path, ": header length ", header_len, " is implausibly large (corrupt file?)");
  if (header_len > file_size - 8)
    fail(path, ": header length ", header_len, " runs past the end of the file (", file_size, " bytes; truncated?)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) fail(path, ": header is not a JSON object");
  st.data_ = bytes + 8 + header_len;
  const size_t data_size = file_size - 8 - header_len;

  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(path, ": __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) fail(path, ": __metadata__ value '", m.key(), "' is not a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string ctx = path + ": tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(ctx, " needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) fail(ctx, " has a non-string dtype");
    TensorInfo info;
    info.dtype = v["dtype"].get<std::string>();
    const auto dtype = dtype_from_safetensors(info.dtype, ctx);
    if (!v["shape"].is_array()) fail(ctx, " has a non-list shape");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail(ctx, " has an invalid dimension ", d.dump());
      const uint64_t n = d.get<uint64_t>();
      if (n > (1ull << 40) || (n && numel > (1ull << 50) / n)) fail(ctx, " has an implausible shape");
      numel *= n;
      info.shape.push_back(static_cast<int64_t>(n));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(ctx, " has invalid data_offsets");
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    if (info.end < info.begin) fail(ctx, " has data_offsets that end before they begin");
    if (info.end > data_size)
      fail(ctx, " lies outside the data (ends at ", info.end, ", data has ", data_size, " bytes; truncated?)");
    const uint64_t expected = numel * c10::elementSize(dtype);
    if (info.end - info.begin != expected)
      fail(ctx, " has ", info.end - info.begin, " bytes but its dtype and shape need ", expected);
    if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
    st.names_.push_back(name);
    st.infos_[name] = std::move(info);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail(path, ": tensors overlap in the data section (corrupt file)");
  return st;
}

torch::Tensor SafeTensors::get(const std::string& name) const {
  const TensorInfo& ti = info(name);
  const auto dtype = dtype_from_safetensors(ti.dtype, path_);
  auto keep = map_;
  void* ptr = const_cast<uint8_t*>(data_ + ti.begin);
  if (ti.end == ti.begin) return torch::empty(ti.shape, torch::dtype(dtype));
  // When the last view of a tensor goes, its file pages leave the process: loading copies every tensor into
  // its module once, so the mapped file never adds its size to the resident set.
  const size_t bytes = ti.end - ti.begin;
  return torch::from_blob(ptr, ti.shape, [keep, bytes](void* p) { keep->release(p, bytes); }, torch::dtype(dtype));
}

TensorMap SafeTensors::all() const {
  TensorMap out;
  for (const auto& n : names_) out[n] = get(n);
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::vector<torch::Tensor> blobs;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) fail(path, ": tensor '", name, "' is undefined");
    auto c = t.detach().to(torch::kCPU).contiguous();
    const size_t nbytes = c.numel() * c.element_size();
    header[name] = {{"dtype", dtype_to_safetensors(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    blobs.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  write_file_atomic(path, [&](std::ostream& out) {
    uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& b : blobs)
      out.write(static_cast<const char*>(b.data_ptr()), static_cast<std::streamsize>(b.numel() * b.element_size()));
  });
}

}  // namespace prtkl
