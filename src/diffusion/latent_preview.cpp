#include "diffusion/latent_preview.h"

#include "core/error.h"

namespace prtkl {

Image latent_preview(const torch::Tensor& latents, ModelFamily family) {
  if (latents.dim() != 3 || latents.size(0) != 4)
    fail("latent preview: expected latents [4,h,w], got ", latents.sizes());
  // Least-squares fits of decoded RGB in [-1,1] on the four latent channels (the widely used community values).
  static const float sd15[4][3] = {
      {0.3512f, 0.2297f, 0.3227f}, {0.3250f, 0.4974f, 0.2350f}, {-0.2829f, 0.1762f, 0.2721f},
      {-0.2120f, -0.2616f, -0.7177f}};
  static const float sdxl[4][3] = {
      {0.3651f, 0.4232f, 0.4341f}, {-0.2533f, -0.0042f, 0.1068f}, {0.1076f, 0.1111f, -0.0362f},
      {-0.3165f, -0.2492f, -0.2188f}};
  static const float sdxl_bias[3] = {0.1084f, -0.0175f, -0.0011f};
  const bool xl = family == ModelFamily::SDXL;
  const auto factors = torch::from_blob(const_cast<float*>(&(xl ? sdxl : sd15)[0][0]), {4, 3}, torch::kFloat32);
  auto rgb = torch::einsum("chw,cr->hwr", {latents.detach().to(torch::kCPU, torch::kFloat32), factors});
  if (xl) rgb = rgb + torch::from_blob(const_cast<float*>(sdxl_bias), {3}, torch::kFloat32);
  const auto pixels = ((rgb + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  Image img;
  img.height = static_cast<int>(pixels.size(0));
  img.width = static_cast<int>(pixels.size(1));
  img.channels = 3;
  img.pixels.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
  return img;
}

}  // namespace prtkl
