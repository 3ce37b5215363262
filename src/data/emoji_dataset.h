// The bundled model's training set, built from open emoji art installed from npm:
//   emoji-datasource-google  (Noto Color Emoji, 64x64 PNGs, Apache-2.0)
//   emoji-datasource-twitter (Twemoji, 64x64 PNGs, CC-BY 4.0)
//   emojibase-data           (CLDR names and keywords, many languages)
// Each drawable emoji is one concept: its CLDR name is the caption, its keywords vary the caption and, in every
// language, lead the offline interpreter to it. Both styles and one seeded skin-tone variant per style are images
// of the same concept; gendered and qualified forms of another concept ("woman juggling", "family: man, girl") are
// no concepts of their own (near-duplicates), but their pictures still teach the autoencoder. What is not a picture (flags, keycaps, letters, arrows, clock faces, geometric and
// audio-video symbols …) is left out.
//
// Output folder: images/*.png (composited on white), metadata.jsonl ({"file_name", "text", "concept"} per
// line, as diffusers' imagefolder and prtkl train read it; with look_words each caption twice, the second time
// with the picture's look), metadata_all.jsonl (the same with the variants: the
// VAE stage's data) and concepts.json (the inventory).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace prtkl {

struct EmojiDatasetOptions {
  std::string npm_dir;  // a node_modules folder holding the three packages
  std::string out;
  uint64_t seed = 0;
  // Also write every caption with the picture's look added ("red apple flat", "red apple glossy"), so a model
  // trained on it draws the look a prompt names and either look when it names none (the rows without the word stay).
  // "": no look words; "after": after the caption; "before": in front of it ("flat red apple"), where a causal text
  // encoder carries it into every position of the caption.
  std::string look_words;
  // "flat" or "glossy": metadata.jsonl keeps only that look's pictures (the data of a style learnt by fine-tuning,
  // models/recipe/style_ft.sh); "": both. metadata_all.jsonl and the seeded choices stay those of the full set.
  std::string only_look;
  // CLDR keyword languages carried into concepts.json for the interpreter (English always).
  std::vector<std::string> languages = {"de", "es", "fr", "it", "pt", "nl", "sv", "pl", "ru", "ja", "zh", "ko"};
};

struct EmojiDatasetResult {
  int64_t concepts = 0, images = 0, captions = 0;
  int64_t skipped_kind = 0;     // not drawable (flags, keycaps, …)
  int64_t skipped_variant = 0;  // a gendered or qualified form of another concept ("man juggling", "family: …")
  int64_t skipped_missing = 0;  // no image in one of the styles, or no CLDR entry
};

// Throws prtkl::Error naming the missing package or file.
EmojiDatasetResult build_emoji_dataset(const EmojiDatasetOptions& options);

}  // namespace prtkl
