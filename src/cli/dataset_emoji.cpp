// `prtkl dataset emoji --npm DIR --out DIR`: the bundled model's training set from the emoji packages that
// models/prtkl-emoji/recipe installs from npm (src/data/emoji_dataset.h).
#include <iostream>

#include "cli/cli_util.h"
#include "cli/subcommand.h"
#include "data/emoji_dataset.h"
#include "text/bpe_trainer.h"

namespace prtkl::cli {

namespace {

// Registered after "dataset" (subcommands are set up in name order) and added under it.
RegisterSubcommand reg("dataset-emoji", [](CLI::App& app) {
  auto o = std::make_shared<EmojiDatasetOptions>();
  auto langs = std::make_shared<std::string>();
  auto* sub = app.get_subcommand("dataset")->add_subcommand(
      "emoji", "The bundled model's training set: Noto + Twemoji pictures with CLDR captions");
  sub->add_option("--npm", o->npm_dir, "node_modules folder with emoji-datasource-google, -twitter, emojibase-data")
      ->required();
  sub->add_option("--out,-o", o->out, "output folder (images/, metadata.jsonl, concepts.json)")->required();
  sub->add_option("--seed", o->seed, "seed for caption keywords and skin-tone variants")->capture_default_str();
  sub->add_option("--look-words", o->look_words,
                  "also write each caption with the picture's look, after it (\"red apple flat\") or before it "
                  "(\"flat red apple\")")
      ->check(CLI::IsMember({"before", "after"}));
  sub->add_option("--only-look", o->only_look,
                  "metadata.jsonl keeps only the pictures of this look (flat: Twemoji, glossy: Noto), the data of a "
                  "look learnt by fine-tuning");
  sub->add_option("--languages", *langs, "CLDR keyword languages for the interpreter, comma-separated");
  sub->callback([o, langs] {
    if (!langs->empty()) o->languages = split_commas(*langs);
    const auto r = build_emoji_dataset(*o);
    std::cout << o->out << ": " << r.concepts << " concepts, " << r.images << " images, " << r.captions
              << " captions (left out: " << r.skipped_kind << " not drawable, " << r.skipped_variant
              << " gendered or qualified variants, " << r.skipped_missing
              << " without both styles or a CLDR name)\n";
  });
});

RegisterSubcommand reg_tok("tokenizer", [](CLI::App& app) {
  auto texts = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto size = std::make_shared<int64_t>(4096);
  auto window = std::make_shared<int64_t>(ClipTokenizer::kClipWindow);
  auto* tok = app.add_subcommand("tokenizer", "Tokenizer utilities");
  tok->require_subcommand(1);
  auto* sub = tok->add_subcommand("train", "Learn a CLIP-format BPE vocabulary from the captions of a metadata.jsonl");
  sub->add_option("--data", *texts, "metadata.jsonl (its \"text\" fields)")->required();
  sub->add_option("--out,-o", *out, "tokenizer folder to write")->required();
  sub->add_option("--vocab-size", *size, "tokens in all, the two special tokens included")->capture_default_str();
  sub->add_option("--window", *window, "tokens a prompt is padded to, bos and eos included (model_max_length)")
      ->capture_default_str();
  sub->callback([texts, out, size, window] {
    const auto r = train_tokenizer_from_metadata(*texts, *size, *out, *window);
    std::cout << *out << ": " << r.vocab_size << " tokens (" << r.merges << " merges from " << r.words
              << " distinct words)\n";
  });
});

}  // namespace

}  // namespace prtkl::cli
