#include "pipeline/batch_files.hpp"

namespace proxy {
namespace {

std::string key_of(const std::string& provider, const std::string& id) {
  return provider + '\x1f' + id;
}

}  // namespace

void BatchFiles::remember(const std::string& provider, const std::string& id, Priced priced) {
  std::lock_guard lock(mutex_);
  auto key = key_of(provider, id);
  if (files_.insert_or_assign(key, std::move(priced)).second) order_.push_back(std::move(key));
  while (order_.size() > k_max_files) {
    files_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<BatchFiles::Priced> BatchFiles::find(const std::string& provider,
                                                   const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto it = files_.find(key_of(provider, id));
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

}  // namespace proxy
