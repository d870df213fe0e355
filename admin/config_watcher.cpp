#include "admin/config_watcher.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "util/thread_name.hpp"

namespace proxy {
namespace {

// Everything that can change what a path in the folder resolves to or contains: an edit in
// place, an editor's rename-over, a symlink swap (rename of `..data_tmp` onto `..data`).
constexpr std::uint32_t k_mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                 IN_DELETE | IN_ATTRIB | IN_MODIFY | IN_ONLYDIR;

}  // namespace

ConfigWatcher::ConfigWatcher(std::function<std::vector<std::string>()> files,
                             std::function<void()> on_change, std::chrono::milliseconds debounce)
    : files_(std::move(files)), on_change_(std::move(on_change)), debounce_(debounce) {}

ConfigWatcher::~ConfigWatcher() {
  stop();
}

void ConfigWatcher::start() {
  if (thread_.joinable()) return;
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    ::close(inotify_fd_);
    inotify_fd_ = -1;
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  stopping_ = false;
  refresh_watches();
  thread_ = std::thread([this] {
    util::name_thread("tg-config");
    run();
  });
}

void ConfigWatcher::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(inotify_fd_);
  ::close(stop_fd_);
  inotify_fd_ = stop_fd_ = -1;
  watches_.clear();
}

void ConfigWatcher::refresh_watches() {
  std::set<std::string> folders;
  for (const auto& file : files_()) {
    if (file.empty() || file.front() != '/') continue;  // catalog:NAME includes are embedded
    folders.insert(std::filesystem::path(file).parent_path().string());
  }
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (folders.count(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(inotify_fd_, it->second);
    it = watches_.erase(it);
  }
  for (const auto& folder : folders) {
    if (watches_.count(folder)) continue;
    const int wd = ::inotify_add_watch(inotify_fd_, folder.c_str(), k_mask);
    if (wd < 0) {
      spdlog::warn("config watch: cannot watch {}: {}", folder, std::strerror(errno));
      continue;
    }
    watches_.emplace(folder, wd);
  }
}

bool ConfigWatcher::wait_readable(int timeout_ms) {
  pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (stopping_ || (fds[1].revents & POLLIN)) return false;
    return n > 0 && (fds[0].revents & POLLIN);
  }
}

void ConfigWatcher::drain() {
  alignas(inotify_event) char buffer[8192];
  while (::read(inotify_fd_, buffer, sizeof buffer) > 0) {
  }
}

void ConfigWatcher::run() {
  const int debounce_ms = static_cast<int>(debounce_.count());
  while (!stopping_) {
    if (!wait_readable(-1)) {
      if (stopping_) return;
      continue;
    }
    drain();
    // Debounce: a ConfigMap swap or an editor save is several events; wait for a quiet spell.
    while (wait_readable(debounce_ms)) drain();
    if (stopping_) return;
    on_change_();
    // A folder that was deleted and recreated needs a new watch; includes may have changed.
    refresh_watches();
  }
}

}  // namespace proxy
