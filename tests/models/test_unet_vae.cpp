// UNet and VAE against diffusers on both tiny models, chunked attention against unchunked, and config errors.
#include <gtest/gtest.h>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/file_util.h"
#include "models/attention.h"
#include "models/fused_attention_cpu.h"
#include "models/norms_bf16_cpu.h"
#include "models/unet.h"
#include "models/vae.h"
#include "models/weights.h"
#include "support/fixtures.h"

using namespace prtkl;

namespace {

struct Case {
  std::string model;
  bool sdxl;
};

template <typename M>
M load(const std::string& model, const std::string& component) {
  const auto dir = test::fixture_path(model + "/" + component);
  M m(Config::load(dir + "/config.json"));
  load_weights_file(*m, dir + "/diffusion_pytorch_model.safetensors");
  m->eval();
  return m;
}

class Models : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { torch::set_num_threads(2); }
};

}  // namespace

TEST_P(Models, UNetMatchesDiffusers) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto unet = load<UNet2DConditionModel>(GetParam().model, "unet");
  EXPECT_EQ(parameter_count(*unet), ref.header().at("parameter_counts").at("unet").get<int64_t>());
  for (const std::string call : {"unet.call1.", "unet.call2."}) {
    torch::Tensor text_embeds, time_ids;
    if (GetParam().sdxl) {
      text_embeds = ref.get(call + "text_embeds");
      time_ids = ref.get(call + "time_ids");
    }
    auto out = unet->forward(ref.get(call + "sample"), ref.get(call + "timestep"), ref.get(call + "encoder_hidden_states"),
                             text_embeds, time_ids);
    EXPECT_MATCHES(ref, call + "out", out);
  }
}

TEST_P(Models, UNetWithForcedAttentionChunksIsUnchanged) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto unet = load<UNet2DConditionModel>(GetParam().model, "unet");
  torch::Tensor text_embeds, time_ids;
  if (GetParam().sdxl) {
    text_embeds = ref.get("unet.call1.text_embeds");
    time_ids = ref.get("unet.call1.time_ids");
  }
  const auto saved = attention_chunk_bytes();
  set_attention_chunk_bytes(1);  // one query row at a time
  set_fused_attention_allowed(false);
  auto out = unet->forward(ref.get("unet.call1.sample"), ref.get("unet.call1.timestep"),
                           ref.get("unet.call1.encoder_hidden_states"), text_embeds, time_ids);
  set_fused_attention_allowed(true);
  set_attention_chunk_bytes(saved);
  EXPECT_MATCHES(ref, "unet.call1.out", out);
}

TEST_P(Models, VaeDecodeAndEncodeMatchDiffusers) {
  torch::NoGradGuard no_grad;
  test::Reference ref(GetParam().model);
  auto vae = load<AutoencoderKL>(GetParam().model, "vae");
  EXPECT_EQ(parameter_count(*vae), ref.header().at("parameter_counts").at("vae").get<int64_t>());
  EXPECT_MATCHES(ref, "vae.decode.out", vae->decode(ref.get("vae.decode.latents")));
  auto dist = vae->encode(ref.get("vae.encode.image"));
  EXPECT_MATCHES(ref, "vae.encode.mean", dist.mean);
  EXPECT_MATCHES(ref, "vae.encode.logvar", dist.logvar);
  EXPECT_MATCHES(ref, "vae.encode.std", dist.std);
  at::Generator gen = at::detail::createCPUGenerator(ref.header().at("vae_encode_sample_seed").get<uint64_t>());
  EXPECT_MATCHES(ref, "vae.encode.sample", dist.sample(gen));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Models, ::testing::Values(Case{"tiny-sd15", false}, Case{"tiny-sdxl", true}),
                         [](const auto& info) { return info.param.sdxl ? std::string("sdxl") : std::string("sd15"); });

namespace {
// softmax(q kᵀ / √d) v per head, written out the textbook way.
torch::Tensor textbook_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 int64_t heads) {
  const auto B = q.size(0), Tq = q.size(1), Tk = k.size(1), C = q.size(2), d = C / heads;
  auto split = [&](const torch::Tensor& t, int64_t T) { return t.reshape({B, T, heads, d}).transpose(1, 2); };
  auto w = torch::matmul(split(q, Tq).to(torch::kFloat64), split(k, Tk).to(torch::kFloat64).transpose(-1, -2));
  auto out = torch::matmul(torch::softmax(w / std::sqrt(double(d)), -1), split(v, Tk).to(torch::kFloat64));
  return out.transpose(1, 2).reshape({B, Tq, C}).to(torch::kFloat32);
}
}  // namespace

TEST(Attention, ChunkedEqualsWhole) {
  torch::manual_seed(0);
  auto q = torch::randn({2, 37, 24}), k = torch::randn({2, 11, 24}), v = torch::randn({2, 11, 24});
  set_fused_attention_allowed(false);
  auto whole = attention(q, k, v, 3);
  const auto saved = attention_chunk_bytes();
  set_attention_chunk_bytes(2 * 3 * 11 * 4 * 5);  // five query rows per chunk
  auto chunked = attention(q, k, v, 3);
  set_attention_chunk_bytes(saved);
  set_fused_attention_allowed(true);
  EXPECT_TRUE(torch::allclose(whole, chunked, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(whole, textbook_attention(q, k, v, 3), 1e-5, 1e-6));
}

namespace {
struct AttentionShape {
  int64_t B, Tq, Tk, heads, d;
  double score_scale;
};
// Shapes that stress the kernels' tiling at both widths: query counts off the 6- and 8-row tiles and the 48- and
// 64-row blocks, key counts off the 16- and 32-key panels and across several 128-key softmax steps, head sizes 8 to
// 512 (those that are not whole AVX-512 registers are padded, the AVX2 kernel's odd multiples of 8 take the
// one-register column tile), and large scores.
const std::vector<AttentionShape> kAttentionShapes = {
    {2, 37, 11, 3, 8, 1},   {1, 70, 300, 2, 40, 1}, {2, 33, 77, 8, 40, 1}, {1, 5, 129, 1, 24, 1}, {1, 64, 64, 2, 64, 1},
    {1, 130, 45, 2, 80, 1}, {1, 20, 16, 1, 512, 1}, {1, 9, 33, 1, 160, 1}, {2, 9, 200, 2, 16, 20}};

// q, k and v of a shape in `dtype`, v as a strided view (rows wider than C), as a fused projection would give.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> attention_inputs(const AttentionShape& s, torch::Dtype dtype) {
  const auto C = s.heads * s.d;
  auto q = (torch::randn({s.B, s.Tq, C}) * s.score_scale).to(dtype), k = torch::randn({s.B, s.Tk, C}).to(dtype);
  auto v = torch::randn({s.B, s.Tk, C + 8}).to(dtype).slice(2, 4, 4 + C);
  return {q, k, v};
}

std::string describe(const AttentionShape& s) {
  return "B" + std::to_string(s.B) + " Tq" + std::to_string(s.Tq) + " Tk" + std::to_string(s.Tk) + " heads" +
         std::to_string(s.heads) + " d" + std::to_string(s.d);
}
}  // namespace

// The fused kernels, every width this CPU runs, against float64 math.
TEST(Attention, FusedKernelMatchesTextbookMath) {
  torch::NoGradGuard no_grad;
  const auto probe = torch::zeros({1, 1, 8});
  if (!fused_attention_applies(probe, probe, probe, 1)) GTEST_SKIP() << "CPU without AVX2/FMA";
  torch::manual_seed(1);
  for (const auto& s : kAttentionShapes) {
    const auto [q, k, v] = attention_inputs(s, torch::kFloat32);
    ASSERT_TRUE(fused_attention_applies(q, k, v, s.heads));
    auto want = textbook_attention(q, k, v, s.heads);
    for (const auto kernel : available_attention_kernels()) {
      auto got = fused_attention_cpu(q, k, v, s.heads, kernel);
      EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-5)) << "kernel " << static_cast<int>(kernel) << " " << describe(s)
                                                          << " max diff " << (got - want).abs().max().item<double>();
    }
    EXPECT_TRUE(torch::equal(attention(q, k, v, s.heads), fused_attention_cpu(q, k, v, s.heads)));  // takes it
  }
}

// bfloat16 inputs on the same shapes, against float64 math on the same inputs. The kernel works in float32 and
// rounds only its output: measured, it errs at most 7.7e-3 (8.5e-4 on average), where the unfused bfloat16 path,
// which also rounds scores and probabilities, errs up to 9.6e-2 (6.1e-3) on the large-score shape.
TEST(Attention, FusedBf16KernelMatchesTextbookMath) {
  torch::NoGradGuard no_grad;
  const auto probe = torch::zeros({1, 1, 8}, torch::kBFloat16);
  if (!fused_attention_applies(probe, probe, probe, 1)) GTEST_SKIP() << "CPU without AVX2/FMA";
  torch::manual_seed(2);
  for (const auto& s : kAttentionShapes) {
    const auto [q, k, v] = attention_inputs(s, torch::kBFloat16);
    ASSERT_TRUE(fused_attention_applies(q, k, v, s.heads));
    auto got = fused_attention_cpu(q, k, v, s.heads).to(torch::kFloat32);
    auto want = textbook_attention(q, k, v, s.heads);
    const auto diff = (got - want).abs();
    EXPECT_LT(diff.max().item<double>(), 1e-2) << describe(s);
    EXPECT_LT(diff.mean().item<double>(), 1e-3) << describe(s);
    if (fused_attention_preferred(q, k, v, s.heads))  // attention() takes it
      EXPECT_TRUE(torch::equal(attention(q, k, v, s.heads).to(torch::kFloat32), got));
  }
}

TEST(Attention, FusedKernelStepsAsideWhereItCannotServe) {
  auto q = torch::randn({1, 4, 12}), k = torch::randn({1, 4, 12});
  EXPECT_FALSE(fused_attention_applies(q, k, k, 2));                      // head size 6
  EXPECT_FALSE(fused_attention_applies(q.to(torch::kBFloat16), k, k, 1));  // dtypes differ
  EXPECT_FALSE(fused_attention_applies(q.to(torch::kFloat16), k.to(torch::kFloat16), k.to(torch::kFloat16), 1));
  auto w = torch::randn({1, 4, 16}, torch::requires_grad());
  EXPECT_FALSE(fused_attention_applies(w, w, w, 2));  // training needs autograd
  // bfloat16 heads of 256 and wider go to oneDNN's matmuls on CPUs with AMX.
  const auto wide = torch::zeros({1, 4, 256}, torch::kBFloat16), narrow = torch::zeros({1, 4, 128}, torch::kBFloat16);
  if (fused_attention_applies(wide, wide, wide, 1)) {
    EXPECT_EQ(fused_attention_preferred(wide, wide, wide, 1), !cpu_features().amx_bf16);
    EXPECT_TRUE(fused_attention_preferred(narrow, narrow, narrow, 1));
    EXPECT_TRUE(
        fused_attention_preferred(wide.to(torch::kFloat32), wide.to(torch::kFloat32), wide.to(torch::kFloat32), 1));
  }
  auto out = attention(w, w, w, 2);
  out.sum().backward();
  EXPECT_TRUE(w.grad().defined());
}

TEST(UNetConfig, UnknownBlockTypeNamesTheField) {
  auto json = read_json_file(test::fixture_path("tiny-sd15/unet/config.json"));
  json["down_block_types"][0] = "SimpleCrossAttnDownBlock2D";
  try {
    UNet2DConditionModel m(Config(json, "unet/config.json"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("down_block_types"), std::string::npos) << e.what();
  }
}

TEST(UNetConfig, SizesThatContradictWeightsNameTheTensor) {
  auto json = read_json_file(test::fixture_path("tiny-sd15/unet/config.json"));
  json["block_out_channels"] = {16, 48};
  UNet2DConditionModel m(Config(json, "unet/config.json"));
  try {
    load_weights_file(*m, test::fixture_path("tiny-sd15/unet/diffusion_pytorch_model.safetensors"));
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("diffusion_pytorch_model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor '"), std::string::npos) << msg;
  }
}

// addition_embed_type "text" (diffusers' TextTimeEmbedding): the checkpoint keys diffusers writes, the pooled vector
// against the attention-pooling math written out per head, and the UNet adding it to the time embedding.
TEST(UNetTextPooling, KeysMathAndWiringFollowDiffusers) {
  torch::NoGradGuard no_grad;
  auto json = read_json_file(test::fixture_path("tiny-sd15/unet/config.json"));
  json["addition_embed_type"] = "text";
  json["addition_embed_type_num_heads"] = 2;
  torch::manual_seed(3);
  UNet2DConditionModel pooled(Config(json, "unet/config.json"));
  const int64_t cross = json["cross_attention_dim"], temb = json["block_out_channels"][0].get<int64_t>() * 4;
  const auto params = pooled->named_parameters();
  const std::map<std::string, std::vector<int64_t>> want{
      {"add_embedding.norm1.weight", {cross}},      {"add_embedding.pool.positional_embedding", {1, cross}},
      {"add_embedding.pool.q_proj.weight", {cross, cross}}, {"add_embedding.pool.k_proj.bias", {cross}},
      {"add_embedding.pool.v_proj.weight", {cross, cross}}, {"add_embedding.proj.weight", {temb, cross}},
      {"add_embedding.norm2.bias", {temb}}};
  for (const auto& [key, shape] : want) {
    ASSERT_NE(params.find(key), nullptr) << key;
    EXPECT_EQ(params[key].sizes().vec(), shape) << key;
  }

  // The pooled vector, one batch row and one head at a time.
  TextTimeEmbedding pool(cross, temb, 2);
  const auto x = torch::randn({2, 5, cross});
  const auto got = pool->forward(x);
  const auto p = pool->named_parameters();
  const auto ln = torch::layer_norm(x, {cross}, p["norm1.weight"], p["norm1.bias"]);
  const int64_t d = cross / 2;
  for (int64_t b = 0; b < 2; ++b) {
    const auto cls = ln[b].mean(0) + p["pool.positional_embedding"][0];
    const auto rows = torch::cat({cls.unsqueeze(0), ln[b]});
    const auto q = torch::matmul(p["pool.q_proj.weight"], cls) + p["pool.q_proj.bias"];
    const auto k = torch::matmul(rows, p["pool.k_proj.weight"].t()) + p["pool.k_proj.bias"];
    const auto v = torch::matmul(rows, p["pool.v_proj.weight"].t()) + p["pool.v_proj.bias"];
    std::vector<torch::Tensor> heads;
    for (int64_t h = 0; h < 2; ++h) {
      const auto cols = torch::indexing::Slice(h * d, (h + 1) * d);
      const auto w = torch::softmax(torch::matmul(k.index({torch::indexing::Slice(), cols}), q.index({cols})) /
                                        std::sqrt(double(d)), 0);
      heads.push_back(torch::matmul(w, v.index({torch::indexing::Slice(), cols})));
    }
    const auto proj = torch::matmul(p["proj.weight"], torch::cat(heads)) + p["proj.bias"];
    const auto expect = torch::layer_norm(proj, {temb}, p["norm2.weight"], p["norm2.bias"]);
    EXPECT_TRUE(torch::allclose(got[b], expect, 1e-5, 1e-5)) << (got[b] - expect).abs().max().item<double>();
  }

  // In the UNet: with norm2 zeroed the pooled term vanishes and the output is the plain UNet's; otherwise it moves.
  UNet2DConditionModel plain(Config(read_json_file(test::fixture_path("tiny-sd15/unet/config.json")), "unet/config.json"));
  const auto plain_params = plain->named_parameters();
  for (auto& kv : plain_params) kv.value().copy_(params[kv.key()]);
  const auto sample = torch::randn({1, 4, 8, 8}), t = torch::tensor({500}), context = torch::randn({1, 7, cross});
  const auto with_term = pooled->forward(sample, t, context);
  params["add_embedding.norm2.weight"].zero_();
  params["add_embedding.norm2.bias"].zero_();
  EXPECT_TRUE(torch::allclose(pooled->forward(sample, t, context), plain->forward(sample, t, context), 1e-6, 1e-6));
  EXPECT_GT((with_term - plain->forward(sample, t, context)).abs().max().item<double>(), 1e-3);
}

// The fused bfloat16 group norm + SiLU against float64 math on the same inputs, beside ATen's two bfloat16 ops:
// tails off the 16-lane vectors (7×9 and 5 values per channel, 40 channels), one and two channels per group, a
// mean far from zero (the variance must not cancel), and channels-last inputs.
TEST(GroupNormSilu, FusedKernelMatchesTextbookMath) {
  torch::NoGradGuard no_grad;
  const auto probe = torch::zeros({1, 2, 16}, torch::kBFloat16), ones = torch::ones({2}, torch::kBFloat16);
  if (!group_norm_silu_applies(probe, ones, ones, 1)) GTEST_SKIP() << "CPU without AVX512-BF16";
  struct Shape {
    std::vector<int64_t> size;
    int64_t groups;
    double offset;
  };
  torch::manual_seed(3);
  for (const Shape& s : {Shape{{2, 64, 7, 9}, 32, 0}, Shape{{1, 32, 16, 16}, 8, 0}, Shape{{2, 4, 5}, 4, 0},
                         Shape{{1, 16, 64, 64}, 16, 0}, Shape{{1, 8, 12, 12}, 2, 100}, Shape{{2, 40, 30, 30}, 8, 0},
                         Shape{{1, 64, 48, 48}, 32, 50}}) {
    const auto C = s.size[1];
    const auto values = (torch::randn(s.size) * 3 + s.offset).to(torch::kBFloat16);
    auto weight = (torch::rand({C}) + 0.5).to(torch::kBFloat16), bias = torch::randn({C}).to(torch::kBFloat16);
    std::vector<torch::Tensor> layouts{values};
    if (s.size.size() == 4) layouts.push_back(values.contiguous(at::MemoryFormat::ChannelsLast));
    for (const auto& x : layouts) {
      ASSERT_TRUE(group_norm_silu_applies(x, weight, bias, s.groups));
      auto fused = group_norm_silu_cpu(x, weight, bias, s.groups, 1e-5);
      EXPECT_EQ(fused.is_contiguous(), x.is_contiguous());
      auto got = fused.to(torch::kFloat64);
      auto want = torch::silu(torch::group_norm(x.to(torch::kFloat64), s.groups, weight.to(torch::kFloat64),
                                                bias.to(torch::kFloat64), 1e-5));
      auto aten = torch::silu(torch::group_norm(x, s.groups, weight, bias, 1e-5)).to(torch::kFloat64);
      const auto err = (got - want).abs(), aten_err = (aten - want).abs();
      // One bfloat16 rounding of the output: at most half a unit in the last place, 2^-8 relative.
      EXPECT_TRUE((err <= want.abs() * (1.0 / 256) + 1e-6).all().item<bool>())
          << "groups " << s.groups << " channels last " << !x.is_contiguous() << " max error "
          << err.max().item<double>();
      EXPECT_LE(err.mean().item<double>(), aten_err.mean().item<double>()) << "groups " << s.groups;
    }
  }
  {
    torch::AutoGradMode grad(true);
    auto w = torch::ones({4}, torch::TensorOptions(torch::kBFloat16).requires_grad(true));
    EXPECT_FALSE(group_norm_silu_applies(torch::zeros({1, 4, 16}, torch::kBFloat16), w, w, 2));  // training
  }
  EXPECT_FALSE(group_norm_silu_applies(probe.to(torch::kFloat32), ones, ones, 1));  // bfloat16 only
  EXPECT_FALSE(group_norm_silu_applies(torch::zeros({1, 3, 16}, torch::kBFloat16), torch::ones({3}, torch::kBFloat16),
                                       torch::ones({3}, torch::kBFloat16), 2));  // 3 channels in 2 groups
}

// The bfloat16 layer norm against float64 math on the same inputs, beside ATen's bfloat16 one: rows off the
// 16-lane vectors (40 and 24 values), CLIP's and the UNet's widths, and means far from zero.
TEST(LayerNormBf16, KernelMatchesTextbookMath) {
  torch::NoGradGuard no_grad;
  const auto probe = torch::zeros({1, 16}, torch::kBFloat16), ones = torch::ones({16}, torch::kBFloat16);
  if (!layer_norm_applies(probe, ones, ones)) GTEST_SKIP() << "CPU without AVX512-BF16";
  torch::manual_seed(4);
  for (const auto& [size, offset] : std::vector<std::pair<std::vector<int64_t>, double>>{
           {{3, 40}, 0}, {{2, 77, 768}, 0}, {{1, 4096, 320}, 0}, {{2, 9, 1280}, 50}, {{5, 24}, 100}}) {
    const auto C = size.back();
    auto x = (torch::randn(size) * 2 + offset).to(torch::kBFloat16);
    auto weight = (torch::rand({C}) + 0.5).to(torch::kBFloat16), bias = torch::randn({C}).to(torch::kBFloat16);
    ASSERT_TRUE(layer_norm_applies(x, weight, bias));
    auto got = layer_norm_cpu(x, weight, bias, 1e-5).to(torch::kFloat64);
    auto want =
        torch::layer_norm(x.to(torch::kFloat64), {C}, weight.to(torch::kFloat64), bias.to(torch::kFloat64), 1e-5);
    auto aten = torch::layer_norm(x, {C}, weight, bias, 1e-5).to(torch::kFloat64);
    const auto err = (got - want).abs(), aten_err = (aten - want).abs();
    // One bfloat16 rounding of the output (2^-8 relative) and float32 arithmetic before it.
    EXPECT_TRUE((err <= want.abs() * (1.0 / 256) + 1e-4).all().item<bool>())
        << "C " << C << " offset " << offset << " max error " << err.max().item<double>();
    EXPECT_LE(err.mean().item<double>(), aten_err.mean().item<double>() * 1.01) << "C " << C;
  }
  EXPECT_FALSE(layer_norm_applies(probe.to(torch::kFloat32), ones.to(torch::kFloat32), ones.to(torch::kFloat32)));
  // Tokens as a transposed view of an image, as the UNet's transformer blocks give them.
  auto image = torch::randn({2, 16, 5, 7}).to(torch::kBFloat16);
  auto tokens = image.view({2, 16, 35}).transpose(1, 2);
  ASSERT_TRUE(layer_norm_applies(tokens, ones, ones));
  EXPECT_TRUE(
      torch::equal(layer_norm_cpu(tokens, ones, ones, 1e-5), layer_norm_cpu(tokens.contiguous(), ones, ones, 1e-5)));
}
