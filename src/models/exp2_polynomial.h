// 2^f for f in [-0.5, 0.5] as a degree-7 Taylor polynomial (Horner order, highest power first): relative error
// below 1e-8, under float32's epsilon. The fused attention kernels take 2^x as 2^round(x) · 2^f with it.
#pragma once

namespace prtkl {

constexpr int kExp2PolynomialTerms = 8;
constexpr float kExp2Polynomial[kExp2PolynomialTerms] = {
    1.525273380405984e-05f, 1.5403530393381606e-04f, 1.3333558146428443e-03f, 9.618129107628477e-03f,
    5.550410866482158e-02f, 2.402265069591007e-01f,  6.931471805599453e-01f,  1.f};

}  // namespace prtkl
