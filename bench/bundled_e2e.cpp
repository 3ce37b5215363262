// End to end on the bundled model, as a person uses it: word -> interpret -> denoise with the model's own sampling
// (prtkl.json "sampling", its adapter included, as serve uses it; --sampler/--steps/--cfg override) -> decode -> 8,000
// particles, the model loaded once (as `prtkl serve` holds it). Prints each stage's median over all words and runs,
// in seconds, for the thread counts asked.
//
//   build/bench/bench_bundled_e2e [--model models/prtkl-emoji] [--runs 3] [--threads 1,2] [--sampler S] [--steps N]
//                                 [--cfg C] [--dtype auto|fp32|bf16]
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "adapters/adapter_setup.h"
#include "core/runtime.h"
#include "diffusion/pipeline.h"
#include "interpret/interpreter.h"
#include "interpret/model_prompt.h"
#include "particles/particles.h"

using namespace prtkl;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path = "models/prtkl-emoji", threads_list = "1,2";
  int runs = 3;
  std::string sampler, dtype = "auto";  // as serve loads it
  int64_t steps = 0;
  double cfg = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model_path = v;
    else if (k == "--runs") runs = std::stoi(v);
    else if (k == "--threads") threads_list = v;
    else if (k == "--cfg") cfg = std::stod(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--sampler") sampler = v;
    else if (k == "--dtype")
      dtype = v;
  }
  load_model_prompt(model_path).sampling.fill(sampler, steps, cfg);
  const std::vector<std::string> words = {"love", "winter", "freedom", "cat", "pizza", "music", "amor", "rain"};
  keep_freed_memory_in_process();
  LoadOptions options;
  options.dtype = parse_dtype(dtype, torch::kCPU);
  auto model = load_model(model_path, options);
  const auto sampling_lora = load_model_prompt(model_path).sampling.lora_for(sampler);
  if (!sampling_lora.empty()) apply_adapters(model, {sampling_lora}, {});  // merged: costs nothing a step
  auto interpreter = Interpreter::create({}, load_model_prompt(model_path));
  StableDiffusionPipeline pipe(model);
  for (const auto& w : words) interpreter.interpret(w);  // warm: WordNet senses, the concept index

  std::stringstream list(threads_list);
  std::string t;
  std::cout << sampler << ", " << steps << " steps, CFG " << cfg << (sampling_lora.empty() ? "" : ", " + sampling_lora)
            << "\n";
  std::cout << "threads  interpret  denoise  decode  particles  total (median s over " << words.size() << " words x "
            << runs << " runs)\n";
  while (std::getline(list, t, ',')) {
    set_threads(std::stoi(t));
    std::vector<double> interp, denoise, decode, particles, total;
    for (int r = 0; r < runs; ++r)
      for (size_t i = 0; i < words.size(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        const auto meaning = interpreter.interpret(words[i]);
        interp.push_back(seconds_since(start));
        GenerateParams p;
        p.prompt = meaning.prompt;
        p.negative_prompt = meaning.negative_prompt;
        p.steps = steps;
        p.guidance_scale = cfg;
        p.sampler = sampler;
        p.seed = static_cast<uint64_t>(r * 100 + i);
        const auto result = pipe.generate(pipe.resolve(p));
        denoise.push_back(result.encode_seconds + result.denoise_seconds);
        decode.push_back(result.decode_seconds);
        const auto t0 = std::chrono::steady_clock::now();
        make_particles(to_images(result.images)[0], {8000, p.seed});
        particles.push_back(seconds_since(t0));
        total.push_back(seconds_since(start));
      }
    std::cout << std::fixed << std::setprecision(3) << std::setw(7) << t << std::setw(11) << median(interp)
              << std::setw(9) << median(denoise) << std::setw(8) << median(decode) << std::setw(11)
              << median(particles) << std::setw(7) << median(total) << "\n";
  }
  return 0;
}
