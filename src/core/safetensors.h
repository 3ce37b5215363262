// safetensors reader (mmap, fully validated header) and writer (atomic). Format: 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data.
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace prtkl {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

struct TensorInfo {
  std::string dtype;  // as written in the file: "F32", "BF16", ...
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte range inside the data section
};

class SafeTensors {
 public:
  // Maps the file and validates the header; throws prtkl::Error naming the file and the problem.
  static SafeTensors open(const std::string& path);

  const std::string& path() const { return path_; }
  const Metadata& metadata() const { return metadata_; }
  const std::vector<std::string>& names() const { return names_; }  // in file order
  bool contains(const std::string& name) const { return infos_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const;

  // A tensor viewing the mapped file (copy-on-write mapping: writing to it never touches the file). It keeps
  // the mapping alive; when it is freed, its pages are dropped from memory (edits made through it are lost).
  torch::Tensor get(const std::string& name) const;
  TensorMap all() const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> map_;
  const uint8_t* data_ = nullptr;
  Metadata metadata_;
  std::vector<std::string> names_;
  std::map<std::string, TensorInfo> infos_;
};

// Writes tensors (any device/dtype/layout; copied to contiguous CPU) in name order, atomically.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});

// "F32" <-> torch dtype; throws for dtypes libtorch cannot hold.
torch::Dtype dtype_from_safetensors(const std::string& name, const std::string& context);
std::string dtype_to_safetensors(torch::Dtype dtype);

}  // namespace prtkl
