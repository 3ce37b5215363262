// The curation step of the fine-tuning workflow: candidates made by `prtkl dataset generate` (a folder with
// candidates.jsonl and the images) are kept or rejected on the curation page; export writes the kept ones with
// their captions into a training folder that `prtkl train` reads. Decisions persist in decisions.json.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/json_config.h"

namespace prtkl::server {

struct Candidate {
  std::string id;         // the image's file stem
  std::string file_name;  // relative to the candidates folder
  std::string caption;
  std::string decision;  // "keep", "reject" or "" (undecided)
};

class Curation {
 public:
  // Reads <dir>/candidates.jsonl (and decisions.json when present); errors name the file and line.
  Curation(std::string dir, std::string train_dir);
  const std::string& dir() const { return dir_; }
  const std::string& train_dir() const { return train_dir_; }

  std::vector<Candidate> candidates();
  // decision: keep | reject | "" ; throws prtkl::Error for unknown ids or decisions.
  Candidate decide(const std::string& id, const std::string& decision);
  // Writes kept images + same-name .txt captions + metadata.jsonl into the training folder and lists them in its
  // manifest (.prtkl-export.json); removes what an earlier export wrote that is no longer kept, and nothing
  // else. Returns the number of images written; throws prtkl::Error when the folder is not export_owned().
  int export_kept();
  // True when the training folder is missing, empty, or was made by an export: a folder holding someone's own
  // files is never written into (the export would overwrite or delete them).
  bool export_owned();

 private:
  void save_decisions_locked();
  bool export_owned_locked() const;
  std::string dir_, train_dir_;
  std::vector<Candidate> candidates_;
  std::mutex mutex_;
};

}  // namespace prtkl::server
