#pragma once
// Watches the folders of a set of files with inotify and calls back once a burst of changes has
// settled. Folders, not files: a Kubernetes ConfigMap update swaps a `..data` symlink inside the
// mounted folder, which changes what the file path resolves to without touching the file itself.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace proxy {

class ConfigWatcher {
 public:
  // `files` is asked again after every callback (a reload may change the include list).
  ConfigWatcher(std::function<std::vector<std::string>()> files, std::function<void()> on_change,
                std::chrono::milliseconds debounce);
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Starts the watch thread; throws std::system_error when inotify is unavailable.
  void start();
  void stop();

 private:
  void run();
  void refresh_watches();
  bool wait_readable(int timeout_ms);  // false on stop
  void drain();

  std::function<std::vector<std::string>()> files_;
  std::function<void()> on_change_;
  std::chrono::milliseconds debounce_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;                    // eventfd: wakes the thread for stop()
  std::map<std::string, int> watches_;  // folder -> watch descriptor
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace proxy
