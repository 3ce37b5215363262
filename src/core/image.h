// 8-bit images: reading (PNG, JPEG, … via stb_image) and PNG writing with tEXt chunks, e.g. the `parameters`
// chunk AUTOMATIC1111 writes, so existing tools read our generation settings. Writes are atomic.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace prtkl {

struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 1, 3 or 4
  std::vector<uint8_t> pixels;              // row-major, interleaved
};

Image read_image(const std::string& path);  // throws prtkl::Error naming the file
// The same from a file's bytes already in memory; `name` is what an error names.
Image decode_image(const std::string& bytes, const std::string& name);
std::string encode_png(const Image& image, const std::map<std::string, std::string>& text = {});
void write_png(const std::string& path, const Image& image, const std::map<std::string, std::string>& text = {});
// The tEXt (and uncompressed iTXt) chunks of a PNG file.
std::map<std::string, std::string> read_png_text(const std::string& path);

}  // namespace prtkl
