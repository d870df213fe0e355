#include "admin/reloader.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "admin/config_watcher.hpp"
#include "rules/config_loader.hpp"
#include "util/sha256.hpp"

namespace proxy {
namespace {

std::string host_port(const rules::HostPort& hp) {
  return hp.host + ":" + std::to_string(hp.port);
}

// {"reason":..., "<list_key>":[...]} for the event's detail.
std::string detail_json(const std::string& reason, const std::string& file, const char* list_key,
                        const std::vector<std::string>& list) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartObject();
  out.Key("reason");
  out.String(reason.c_str());
  out.Key("file");
  out.String(file.c_str());
  out.Key(list_key);
  out.StartArray();
  for (const auto& item : list) out.String(item.c_str());
  out.EndArray();
  out.EndObject();
  return buffer.GetString();
}

}  // namespace

Reloader::Reloader(std::string config_path, ConfigHolder& holder, budget::Enforcer& enforcer)
    : config_path_(std::move(config_path)), holder_(holder), enforcer_(enforcer) {
  if (auto current = holder_.get()) includes_ = current->included_files;
  hashes_ = hash_files(files_locked());
}

Reloader::~Reloader() {
  stop();
}

std::vector<std::string> Reloader::files_locked() const {
  if (config_path_.empty()) return {};
  std::vector<std::string> files{config_path_};
  files.insert(files.end(), includes_.begin(), includes_.end());
  return files;
}

std::map<std::string, std::string> Reloader::hash_files(
    const std::vector<std::string>& files) const {
  std::map<std::string, std::string> hashes;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      hashes[file] = "";  // absent: appearing again is a change
      continue;
    }
    std::ostringstream text;
    text << in.rdbuf();
    hashes[file] = util::sha256_hex(text.str());
  }
  return hashes;
}

std::vector<std::string> Reloader::keep_restart_settings(rules::Config& next,
                                                         const rules::Config& current) const {
  std::vector<std::string> warnings;
  auto keep = [&](const char* key, bool changed, auto& field, const auto& old) {
    if (!changed) return;
    warnings.push_back(std::string(key) + " changed: needs a restart, keeping the running value");
    field = old;
  };
  keep("listen", host_port(next.listen) != host_port(current.listen), next.listen, current.listen);
  keep("admin.listen", host_port(next.admin.listen) != host_port(current.admin.listen),
       next.admin.listen, current.admin.listen);
  keep("admin.token", next.admin.token != current.admin.token, next.admin.token,
       current.admin.token);
  keep("threads", next.threads != current.threads, next.threads, current.threads);
  keep("data_dir", next.data_dir != current.data_dir, next.data_dir, current.data_dir);
  const auto& ns = next.store;
  const auto& cs = current.store;
  keep("store",
       ns.type != cs.type || ns.path != cs.path || ns.redis.url != cs.redis.url ||
           ns.redis.prefix != cs.redis.prefix || ns.redis.fail_open != cs.redis.fail_open,
       next.store, current.store);
  const auto& nt = next.tls;
  const auto& ct = current.tls;
  keep("tls",
       nt.ca_cert != ct.ca_cert || nt.ca_key != ct.ca_key ||
           nt.upstream_trust != ct.upstream_trust || nt.leaf_validity != ct.leaf_validity,
       next.tls, current.tls);
  return warnings;
}

ReloadOutcome Reloader::reload(const std::string& reason) {
  std::lock_guard lock(mutex_);
  ReloadOutcome outcome;
  if (config_path_.empty()) {
    outcome.errors.push_back("no config file: running on the embedded defaults");
    return outcome;
  }
  auto loaded = rules::load_config_file(config_path_);
  if (!loaded.errors.empty() || !loaded.config) {
    for (const auto& error : loaded.errors) outcome.errors.push_back(error.str());
    if (outcome.errors.empty()) outcome.errors.push_back(config_path_ + ": could not be loaded");
    // Remember what was refused, so the watcher does not retry the same broken text forever.
    hashes_ = hash_files(files_locked());
    spdlog::error("config reload ({}) refused, the running config stays: {}", reason,
                  outcome.errors.front());
    enforcer_.emit(budget::Event{0, budget::Clock::system().now(), budget::EventType::error, "", "",
                                 "config reload (" + reason +
                                     ") refused: " + std::to_string(outcome.errors.size()) +
                                     " error(s), first: " + outcome.errors.front(),
                                 detail_json(reason, config_path_, "errors", outcome.errors)});
    return outcome;
  }
  auto next = std::make_shared<rules::Config>(*loaded.config);
  if (auto current = holder_.get()) outcome.warnings = keep_restart_settings(*next, *current);
  for (const auto& warning : outcome.warnings) spdlog::warn("config reload: {}", warning);
  std::shared_ptr<const rules::Config> snapshot = std::move(next);
  holder_.set(snapshot);
  enforcer_.apply_config(snapshot);
  includes_ = snapshot->included_files;
  hashes_ = hash_files(files_locked());
  ++successful_reloads_;
  outcome.ok = true;
  spdlog::info("config reloaded ({}) from {}", reason, config_path_);
  enforcer_.emit(budget::Event{0, budget::Clock::system().now(), budget::EventType::reload, "", "",
                               "config reloaded (" + reason + ")",
                               detail_json(reason, config_path_, "warnings", outcome.warnings)});
  return outcome;
}

bool Reloader::reload_if_changed(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (config_path_.empty() || hash_files(files_locked()) == hashes_) return false;
  }
  reload(reason);
  return true;
}

void Reloader::start_watching(std::chrono::milliseconds debounce) {
  if (config_path_.empty()) return;
  auto watcher = std::make_unique<ConfigWatcher>(
      [this] {
        std::lock_guard files_lock(mutex_);
        return files_locked();
      },
      [this] { reload_if_changed("file change"); }, debounce);
  // Started outside the lock: start() asks for the file list, which takes it.
  watcher->start();
  std::lock_guard lock(mutex_);
  if (!watcher_) watcher_ = std::move(watcher);
}

void Reloader::stop() {
  std::unique_ptr<ConfigWatcher> watcher;
  {
    std::lock_guard lock(mutex_);
    watcher = std::move(watcher_);
  }
  // Outside the lock: the watch thread may be inside reload(), which takes it.
  if (watcher) watcher->stop();
}

std::string Reloader::digest() const {
  std::lock_guard lock(mutex_);
  std::string all;
  for (const auto& [file, hash] : hashes_) all += file + "\n" + hash + "\n";
  return util::sha256_hex(all);
}

std::uint64_t Reloader::successful_reloads() const {
  std::lock_guard lock(mutex_);
  return successful_reloads_;
}

}  // namespace proxy
