#include "core/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cstring>

#include "core/error.h"
#include "core/file_util.h"

namespace prtkl {

namespace {

uint32_t crc32(const uint8_t* data, size_t n, uint32_t crc = 0xFFFFFFFFu) {
  static uint32_t table[256];
  static bool ready = false;
  if (!ready) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

void put_u32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

// A PNG chunk: length, type, data, CRC over type + data.
std::string chunk(const std::string& type, const std::string& data) {
  std::string c;
  put_u32(c, static_cast<uint32_t>(data.size()));
  std::string body = type + data;
  c += body;
  put_u32(c, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()) ^ 0xFFFFFFFFu);
  return c;
}

bool is_latin1(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

Image read_image(const std::string& path) { return decode_image(read_file(path), path); }

Image decode_image(const std::string& bytes, const std::string& name) {
  int w = 0, h = 0, c = 0;
  uint8_t* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                        &w, &h, &c, 0);
  if (!data) fail(name, ": cannot decode image (", stbi_failure_reason(), ")");
  Image img{w, h, c, std::vector<uint8_t>(data, data + static_cast<size_t>(w) * h * c)};
  stbi_image_free(data);
  return img;
}

std::string encode_png(const Image& img, const std::map<std::string, std::string>& text) {
  if (img.width <= 0 || img.height <= 0 || img.channels < 1 || img.channels > 4 ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels)
    fail("png: image of ", img.width, "x", img.height, "x", img.channels, " has ", img.pixels.size(), " bytes");
  std::string png;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  if (!stbi_write_png_to_func(sink, &png, img.width, img.height, img.channels, img.pixels.data(), img.width * img.channels))
    fail("png: encoding failed");
  // Text chunks go right after IHDR (8-byte signature + 25-byte IHDR chunk). Non-Latin-1 text uses iTXt.
  std::string extra;
  for (const auto& [key, value] : text) {
    if (key.empty() || key.size() > 79) fail("png: text key '", key, "' must have 1 to 79 characters");
    if (is_latin1(value)) extra += chunk("tEXt", key + std::string(1, '\0') + value);
    else extra += chunk("iTXt", key + std::string(1, '\0') + std::string(2, '\0') + std::string(1, '\0') + std::string(1, '\0') + value);
  }
  return png.substr(0, 33) + extra + png.substr(33);
}

void write_png(const std::string& path, const Image& image, const std::map<std::string, std::string>& text) {
  write_file_atomic(path, encode_png(image, text));
}

std::map<std::string, std::string> read_png_text(const std::string& path) {
  const std::string s = read_file(path);
  if (s.size() < 8 || s.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) fail(path, ": not a PNG file");
  std::map<std::string, std::string> out;
  for (size_t at = 8; at + 12 <= s.size();) {
    const uint32_t len = get_u32(s, at);
    if (at + 12 + len > s.size()) fail(path, ": truncated PNG chunk");
    const std::string type = s.substr(at + 4, 4);
    const std::string data = s.substr(at + 8, len);
    const auto nul = data.find('\0');
    if (type == "tEXt" && nul != std::string::npos) {
      out[data.substr(0, nul)] = data.substr(nul + 1);
    } else if (type == "iTXt" && nul != std::string::npos && nul + 2 < data.size() && data[nul + 1] == 0) {
      // keyword \0 compression-flag method language \0 translated \0 text (uncompressed only)
      const auto lang_end = data.find('\0', nul + 3);
      const auto trans_end = lang_end == std::string::npos ? lang_end : data.find('\0', lang_end + 1);
      if (trans_end != std::string::npos) out[data.substr(0, nul)] = data.substr(trans_end + 1);
    }
    if (type == "IEND") break;
    at += 12 + len;
  }
  return out;
}

}  // namespace prtkl
