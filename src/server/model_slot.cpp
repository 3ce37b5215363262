#include "server/model_slot.h"

#include <iostream>

namespace prtkl::server {

ModelSlot::ModelSlot(ServedModel first, Loader load)
    : load_(std::move(load)), current_(std::make_shared<ServedModel>(std::move(first))) {}

void ModelSlot::run(Job& job, JobProgress& progress) {
  std::shared_ptr<ServedModel> served;  // held for the job: a switch meanwhile frees the old model after it
  {
    std::lock_guard lock(mutex_);
    served = current_;
  }
  job.model = served->id;
  served->renderer->run(job, progress);
}

void ModelSlot::discard(const Job& job) {
  std::shared_ptr<ServedModel> served;
  {
    std::lock_guard lock(mutex_);
    served = current_;
  }
  served->renderer->discard(job);
}

std::string ModelSlot::id() const {
  std::lock_guard lock(mutex_);
  return current_->id;
}

StyleCatalog ModelSlot::styles() const {
  std::lock_guard lock(mutex_);
  return current_->renderer->styles();
}

std::string ModelSlot::switch_to(const std::string& name) {
  std::lock_guard one_at_a_time(switching_);
  if (name == id()) return name;
  std::cerr << "loading " << name << "\n";
  auto next = std::make_shared<ServedModel>(load_(name));
  std::lock_guard lock(mutex_);
  current_ = std::move(next);
  std::cerr << "serving " << current_->id << "\n";
  return current_->id;
}

}  // namespace prtkl::server
