#pragma once
// The live config snapshot. Readers take a shared_ptr at the start of an exchange and keep it
// to the end; a reload swaps the pointer atomically, so in-flight exchanges finish on the snapshot
// they started with.

#include <atomic>
#include <memory>

#include "rules/config.hpp"

namespace proxy {

class ConfigHolder {
 public:
  explicit ConfigHolder(std::shared_ptr<const rules::Config> config)
      : current_(std::move(config)) {}
  std::shared_ptr<const rules::Config> get() const {
    return current_.load(std::memory_order_acquire);
  }
  void set(std::shared_ptr<const rules::Config> config) {
    current_.store(std::move(config), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const rules::Config>> current_;
};

}  // namespace proxy
