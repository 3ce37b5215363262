// The two art styles of the emoji set, as npm ships them: the dataset builder, the concept judge and the style
// judge read the same table. `look` is the style's name in prtkl (the style judge's label, a style adapter's name).
#pragma once

namespace prtkl {

struct EmojiStyle {
  const char* package;    // npm package
  const char* name;       // its image folder under img/, and the dataset's file-name suffix
  const char* has_field;  // emoji.json's flag for "this package has a picture of the emoji"
  const char* look;
};
constexpr EmojiStyle kEmojiStyles[] = {
    {"emoji-datasource-google", "google", "has_img_google", "glossy"},   // Noto Color Emoji: shading, highlights
    {"emoji-datasource-twitter", "twitter", "has_img_twitter", "flat"},  // Twemoji: flat fills
};

}  // namespace prtkl
