// Draws ASCII text onto 8-bit images with a built-in 5×7 pixel font (no font library), e.g. contact-sheet labels.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/image.h"

namespace prtkl {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6;  // pixels at scale 1

// Width in pixels of `text` drawn at `scale` (no trailing gap); characters outside ASCII 32..126 count as one
// '?' each (UTF-8 continuation bytes are skipped).
int text_width(const std::string& text, int scale = 1);
inline int text_height(int scale = 1) { return kGlyphHeight * scale; }

// Draws `text` with its top-left corner at (x, y), clipped to the image; only glyph pixels are written.
void draw_text(Image& image, int x, int y, const std::string& text, std::array<uint8_t, 3> color, int scale = 1);

// `text` cut (with a trailing "..") so that text_width(result, scale) <= max_width.
std::string fit_text(const std::string& text, int max_width, int scale = 1);

}  // namespace prtkl
