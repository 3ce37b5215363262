// The loss log of a run: loss.csv (one row per optimizer step, validation loss where measured) and loss.svg,
// a self-contained plot of the raw and smoothed training loss with the validation loss, both rewritten
// atomically as training goes. Resuming truncates the log to the checkpoint's step.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace prtkl {

struct LossRow {
  int64_t step;
  double loss, lr, text_encoder_lr;
  std::optional<double> val_loss;
  double seconds;
};

class LossLog {
 public:
  explicit LossLog(std::string dir);  // reads an existing loss.csv
  void add(const LossRow& row) { rows_.push_back(row); }
  void set_val_loss(int64_t step, double val_loss);
  void truncate(int64_t last_step);  // drops rows after last_step (resume)
  void write() const;                // loss.csv + loss.svg
  const std::vector<LossRow>& rows() const { return rows_; }

 private:
  std::string dir_;
  std::vector<LossRow> rows_;
};

// The SVG for `rows` (exposed for tests).
std::string loss_svg(const std::vector<LossRow>& rows);

}  // namespace prtkl
