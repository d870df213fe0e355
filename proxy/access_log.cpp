#include "proxy/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <mutex>

#include "proxy/header_filter.hpp"

namespace proxy {
namespace {

std::shared_ptr<spdlog::logger> g_access;
std::shared_ptr<spdlog::logger> g_diag;
std::once_flag g_init;

std::string now_iso8601() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

std::string redact_target(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  auto query = target.substr(q + 1);
  bool first = true;
  while (true) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    const auto eq = param.find('=');
    const auto name = param.substr(0, eq);
    const bool secret = name.size() >= 3 && iequals(name.substr(name.size() - 3), "key");
    if (secret && eq != std::string_view::npos) {
      out += name;
      out += "=REDACTED";
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

bool is_secret_header(std::string_view name) {
  return iequals(name, "authorization") || iequals(name, "proxy-authorization") ||
         iequals(name, "x-api-key") || iequals(name, "x-goog-api-key") || iequals(name, "cookie");
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string access_json(const AccessRecord& r) {
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", r.ms);
  std::string out = "{\"ts\":" + json_quote(now_iso8601()) + ",\"client\":" + json_quote(r.client);
  out += ",\"user\":" + json_quote(r.user) + ",\"mode\":" + json_quote(r.mode);
  out += ",\"method\":" + json_quote(r.method) + ",\"host\":" + json_quote(r.host);
  out += ",\"path\":" + json_quote(redact_target(r.target));
  out += ",\"status\":" + std::to_string(r.status);
  out += ",\"bytes_in\":" + std::to_string(r.bytes_in);
  out += ",\"bytes_out\":" + std::to_string(r.bytes_out);
  out += ",\"ms\":";
  out += ms;
  if (!r.error.empty()) out += ",\"error\":" + json_quote(r.error);
  out += '}';
  return out;
}

void init_logging() {
  std::call_once(g_init, [] {
    spdlog::init_thread_pool(8192, 1);
    auto out = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    g_access = std::make_shared<spdlog::async_logger>("access", out, spdlog::thread_pool(),
                                                      spdlog::async_overflow_policy::block);
    g_access->set_pattern("%v");
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_diag = std::make_shared<spdlog::logger>("tollgate", err);
    g_diag->set_pattern("{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",\"msg\":%v}",
                        spdlog::pattern_time_type::utc);
    spdlog::flush_every(std::chrono::seconds(1));
    spdlog::register_logger(g_access);
    spdlog::register_logger(g_diag);
  });
}

void log_access(const AccessRecord& record) {
  if (g_access) g_access->info(access_json(record));
}

void log_line(std::string_view json_line) {
  if (g_access) g_access->info(json_line);
}

void log_warning(std::string_view what) {
  if (g_diag) g_diag->warn(json_quote(what));
}

void flush_logs() {
  if (g_access) g_access->flush();
  if (g_diag) g_diag->flush();
}

}  // namespace proxy
