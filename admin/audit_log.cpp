#include "admin/audit_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "admin/admin_json.hpp"

namespace proxy {

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  const auto folder = std::filesystem::path(path_).parent_path();
  std::error_code ec;
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0)
    throw std::runtime_error("cannot open audit log " + path_ + ": " + std::strerror(errno));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::string AuditLog::format(const AuditEntry& entry) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("time");
  const auto time = format_rfc3339(entry.time, true);
  out.String(time.c_str());
  auto field = [&](const char* key, const std::string& value) {
    out.Key(key);
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  field("caller", entry.caller);
  field("action", entry.action);
  field("target", entry.target);
  out.Key("before");
  write_raw_json(out, entry.before);
  out.Key("after");
  write_raw_json(out, entry.after);
  field("reason", entry.reason);
  out.EndObject();
  return buffer.GetString();
}

bool AuditLog::append(const AuditEntry& entry) {
  if (fd_ < 0) return true;
  const std::string line = format(entry) + "\n";
  std::lock_guard lock(mutex_);
  // O_APPEND makes each write land at the end; one write per line keeps lines whole.
  std::size_t written = 0;
  while (written < line.size()) {
    const auto n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      spdlog::error("audit log {}: write failed: {}", path_, std::strerror(errno));
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    spdlog::error("audit log {}: fsync failed: {}", path_, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace proxy
