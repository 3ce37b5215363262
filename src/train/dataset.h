// Training images and captions: a folder of images with same-name .txt captions, or a metadata.jsonl
// ({"file_name", "text"} per line, as diffusers' imagefolder reads it). The trigger goes into every caption.
// Each image × repeat becomes one sample with its own resize, crop (center or random) and flip, decided once from
// the seed, so cached latents always belong to their own sample and caption whatever the shuffle. With buckets,
// every image keeps its aspect ratio in the nearest of a set of resolutions of about the same area.
// Unreadable or unsupported images are skipped and listed, never fatal.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace prtkl {

struct DatasetOptions {
  std::string path;            // folder, or a metadata.jsonl file (images relative to it)
  std::string caption_ext = ".txt";
  std::string default_caption;  // for images without a caption
  std::string trigger;          // put into each caption that does not contain it yet, by trigger_template
  // Where: "{trigger}, {caption}" (diffusers/kohya's form) or e.g. "{caption} {trigger}", which leaves a small model's
  // reading of the caption alone (its text encoder is causal: tokens after the caption do not change it).
  std::string trigger_template = "{trigger}, {caption}";
  int64_t resolution = 512;     // square side, or the bucket area's side
  bool center_crop = true;      // false: random crop
  bool random_flip = false;     // horizontal, p = 0.5
  bool buckets = false;         // aspect-ratio buckets of about resolution² pixels
  // 0: derived from the resolution (bucket_sides): a 64 px model gets buckets of its size, 512 kohya's 256-1024.
  int64_t bucket_step = 0, min_bucket = 0, max_bucket = 0;
  int repeats = 1;
  int64_t held_out = 0;  // images kept out of training for the validation loss
  uint64_t seed = 0;
};

struct Sample {
  std::string file;     // the source image
  std::string caption;  // with the trigger
  torch::Tensor pixels;  // [3, H, W] float in [-1, 1], cropped and flipped
  int64_t original_h = 0, original_w = 0;  // before resizing (SDXL time ids)
  int64_t crop_top = 0, crop_left = 0;     // after resizing
  bool flipped = false;
};

struct Dataset {
  std::vector<Sample> train;      // images × repeats
  std::vector<Sample> held_out;   // validation-loss images (no repeats)
  std::vector<std::string> skipped;  // "file: reason"
  std::string hash;                // of file names, bytes and captions: identifies the data in metadata
};

// Throws prtkl::Error when the path does not exist or no image is readable.
Dataset load_dataset(const DatasetOptions& options);

struct BucketSides {
  int64_t step, min, max;
};
// The options' bucket step and side limits, each 0 derived from the resolution: sides from half to twice it (256 to
// 1024 for 512, kohya's defaults for SD 1.5), step an eighth of it as a multiple of 8, at most 64.
BucketSides bucket_sides(const DatasetOptions& options);

// The bucket resolutions (h, w) for an area of resolution²: widths from min to max in `step`, heights the
// largest multiple of `step` that keeps the area, both within [min, max].
std::vector<std::pair<int64_t, int64_t>> bucket_resolutions(int64_t resolution, int64_t step, int64_t min_side,
                                                            int64_t max_side);

}  // namespace prtkl
