#pragma once
// Config reload (DESIGN §8, issue 5): POST /v1/reload, SIGHUP and file changes all land in
// reload(). The new config is validated fully first; an invalid one is refused with its
// FILE:LINE:COL errors and the old snapshot keeps serving. A valid one is swapped in atomically
// (in-flight exchanges keep their snapshot) and handed to the enforcer, which keeps spent amounts.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"
#include "pipeline/config_holder.hpp"

namespace proxy {

class ConfigWatcher;

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;    // "FILE:LINE:COL: message"
  std::vector<std::string> warnings;  // settings that need a restart and were kept
};

class Reloader {  // thread-safe
 public:
  // config_path "" = embedded defaults: there is nothing to re-read, reload() refuses.
  Reloader(std::string config_path, ConfigHolder& holder, budget::Enforcer& enforcer);
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Validates, swaps, applies; emits a "reload" event on success and an "error" event on refusal.
  ReloadOutcome reload(const std::string& reason);

  // Reloads only when the content of the config file or an included file differs from what was
  // last loaded (inotify also reports touches and unrelated files in the same folder).
  bool reload_if_changed(const std::string& reason);

  // Watches the folders of the config file and of every included file (inotify thread,
  // `debounce` of quiet before acting). Does nothing for the embedded defaults.
  void start_watching(std::chrono::milliseconds debounce = std::chrono::milliseconds(200));
  void stop();

  // SHA-256 (hex) over the files as last loaded: the audit log's before/after of a reload.
  std::string digest() const;
  std::uint64_t successful_reloads() const;
  const std::string& config_path() const { return config_path_; }

 private:
  std::vector<std::string> files_locked() const;
  std::map<std::string, std::string> hash_files(const std::vector<std::string>& files) const;
  std::vector<std::string> keep_restart_settings(rules::Config& next,
                                                 const rules::Config& current) const;

  std::string config_path_;
  ConfigHolder& holder_;
  budget::Enforcer& enforcer_;
  mutable std::mutex mutex_;
  std::vector<std::string> includes_;          // absolute, from the last valid load
  std::map<std::string, std::string> hashes_;  // file -> content hash at the last attempt
  std::uint64_t successful_reloads_ = 0;
  std::unique_ptr<ConfigWatcher> watcher_;
};

}  // namespace proxy
