#include "train/loss_log.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "core/file_util.h"

namespace prtkl {

namespace fs = std::filesystem;

LossLog::LossLog(std::string dir) : dir_(std::move(dir)) {
  const auto path = (fs::path(dir_) / "loss.csv").string();
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    if (cols.size() < 6) continue;  // a torn last line
    try {
      LossRow r{std::stoll(cols[0]), std::stod(cols[1]), std::stod(cols[2]), std::stod(cols[3]), std::nullopt,
                std::stod(cols[5])};
      if (!cols[4].empty()) r.val_loss = std::stod(cols[4]);
      rows_.push_back(r);
    } catch (const std::exception&) {
    }
  }
}

void LossLog::set_val_loss(int64_t step, double val_loss) {
  for (auto it = rows_.rbegin(); it != rows_.rend(); ++it)
    if (it->step == step) {
      it->val_loss = val_loss;
      return;
    }
}

void LossLog::truncate(int64_t last_step) {
  rows_.erase(std::remove_if(rows_.begin(), rows_.end(), [&](const LossRow& r) { return r.step > last_step; }),
              rows_.end());
}

void LossLog::write() const {
  std::ostringstream csv;
  csv << "step,loss,lr,text_encoder_lr,val_loss,seconds\n" << std::setprecision(9);
  for (const auto& r : rows_) {
    csv << r.step << "," << r.loss << "," << r.lr << "," << r.text_encoder_lr << ",";
    if (r.val_loss) csv << *r.val_loss;
    csv << "," << std::setprecision(4) << r.seconds << std::setprecision(9) << "\n";
  }
  write_file_atomic((fs::path(dir_) / "loss.csv").string(), csv.str());
  write_file_atomic((fs::path(dir_) / "loss.svg").string(), loss_svg(rows_));
}

std::string loss_svg(const std::vector<LossRow>& rows) {
  const double W = 720, H = 360, L = 60, R = 20, T = 20, B = 40;
  std::ostringstream svg;
  svg << std::fixed << std::setprecision(1);
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << " " << H << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (rows.empty()) {
    svg << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\">no steps yet</text>\n</svg>\n";
    return svg.str();
  }
  double lo = rows[0].loss, hi = rows[0].loss;
  for (const auto& r : rows) {
    lo = std::min(lo, r.loss);
    hi = std::max(hi, r.loss);
    if (r.val_loss) lo = std::min(lo, *r.val_loss), hi = std::max(hi, *r.val_loss);
  }
  if (hi - lo < 1e-12) hi = lo + 1e-6;
  const double s0 = double(rows.front().step), s1 = std::max(double(rows.back().step), s0 + 1);
  auto x = [&](double step) { return L + (step - s0) / (s1 - s0) * (W - L - R); };
  auto y = [&](double v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
  svg << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B
      << "\" stroke=\"#444\"/>\n<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B
      << "\" stroke=\"#444\"/>\n";
  svg << std::setprecision(4);
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4;
    svg << "<text x=\"" << L - 6 << "\" y=\"" << y(v) + 4 << "\" text-anchor=\"end\">" << v << "</text>\n";
  }
  svg << "<text x=\"" << L << "\" y=\"" << H - B + 16 << "\">step " << rows.front().step << "</text>\n"
      << "<text x=\"" << W - R << "\" y=\"" << H - B + 16 << "\" text-anchor=\"end\">step " << rows.back().step
      << "</text>\n";
  svg << std::setprecision(1);
  svg << "<polyline fill=\"none\" stroke=\"#9bb8e0\" stroke-width=\"1\" points=\"";
  for (const auto& r : rows) svg << x(r.step) << "," << y(r.loss) << " ";
  svg << "\"/>\n<polyline fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"2\" points=\"";
  double ema = rows[0].loss;  // exponential moving average, the smoothing TensorBoard shows
  for (const auto& r : rows) {
    ema = 0.9 * ema + 0.1 * r.loss;
    svg << x(r.step) << "," << y(ema) << " ";
  }
  svg << "\"/>\n";
  for (const auto& r : rows)
    if (r.val_loss)
      svg << "<circle cx=\"" << x(r.step) << "\" cy=\"" << y(*r.val_loss) << "\" r=\"3.5\" fill=\"#d0462f\"/>\n";
  svg << "<text x=\"" << W - R << "\" y=\"" << T + 10
      << "\" text-anchor=\"end\"><tspan fill=\"#1f4e9c\">training loss (smoothed)</tspan>"
         "<tspan fill=\"#d0462f\"> • validation loss</tspan></text>\n</svg>\n";
  return svg.str();
}

}  // namespace prtkl
