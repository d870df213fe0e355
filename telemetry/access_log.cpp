#include "telemetry/access_log.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "rules/money.hpp"
#include "util/text.hpp"
#include "util/thread_name.hpp"

namespace proxy {
namespace {

// Access-log and event lines for stdout, batched: a worker appends its line to a buffer under a
// mutex (no system call, no wake-up per line); a writer thread, woken once when the buffer goes
// from empty to non-empty, waits k_batch for more lines and writes them all with one write(2).
// Lines reach stdout within about k_batch; flush() (SIGTERM, exit) writes what is left at once.
// A stdout that stops reading blocks the workers once k_max_pending bytes wait, as before.
class LineBuffer {
 public:
  static constexpr auto k_batch = std::chrono::milliseconds(100);
  static constexpr std::size_t k_max_pending = 4 << 20;
  static constexpr std::size_t k_keep = 1 << 20;  // a buffer's capacity kept between batches

  LineBuffer()
      : thread_([this] {
          util::name_thread("tg-log");
          run();
        }) {}
  ~LineBuffer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    flush();
  }

  void append(std::string_view line) {
    bool wake = false;
    {
      std::unique_lock lock(mutex_);
      if (pending_.size() > k_max_pending)
        drained_.wait(lock, [this] { return pending_.size() <= k_max_pending || stopping_; });
      wake = pending_.empty();
      pending_.append(line);
      pending_ += '\n';
    }
    if (wake) wake_.notify_one();
  }

  // Writes every line appended so far before returning. The two strings trade places: each
  // keeps its capacity, so that appending lines does not grow a fresh string every batch (the
  // reallocations, and freeing large blocks on this thread that the workers allocated, cost
  // the workers' allocator more than the lines themselves).
  void flush() {
    std::lock_guard write_lock(write_mutex_);
    {
      std::lock_guard lock(mutex_);
      writing_.swap(pending_);
    }
    drained_.notify_all();
    write_all(writing_);
    writing_.clear();
    if (writing_.capacity() > k_keep) std::string().swap(writing_);
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) break;
      // Let the lines of the next k_batch join this write.
      wake_.wait_for(lock, k_batch, [this] { return stopping_; });
      lock.unlock();
      flush();
      lock.lock();
    }
  }

  static void write_all(const std::string& out) {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stdout closed: the lines have nowhere to go
      done += static_cast<std::size_t>(n);
    }
  }

  std::mutex mutex_;        // pending_, stopping_
  std::mutex write_mutex_;  // keeps the order of lines across concurrent flushes
  std::condition_variable wake_, drained_;
  std::string pending_;
  std::string writing_;  // write_mutex_: the batch being written, then empty with its capacity
  bool stopping_ = false;
  std::thread thread_;
};

LineBuffer* g_lines = nullptr;
std::shared_ptr<spdlog::logger> g_diag;
std::once_flag g_init;

// Writes the ISO 8601 timestamp of now with milliseconds into `buf` (24 characters, no NUL) and
// returns its length; the part up to the seconds is formatted once per second and thread.
std::size_t now_iso8601(char (&buf)[32]) {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[80];
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  const int n = std::snprintf(buf, sizeof buf, "%s.%03dZ", cached, static_cast<int>(ms));
  return static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1));
}

std::string now_iso8601() {
  char buf[32];
  return std::string(buf, now_iso8601(buf));
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
    const bool secret = name.size() >= 3 && util::iequals(name.substr(name.size() - 3), "key");
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
  // Sec-WebSocket-Protocol carries a browser's OpenAI Realtime key (openai-insecure-api-key.KEY).
  return util::iequals(name, "authorization") || util::iequals(name, "proxy-authorization") ||
         util::iequals(name, "x-api-key") || util::iequals(name, "x-goog-api-key") ||
         util::iequals(name, "cookie") || util::iequals(name, "sec-websocket-protocol");
}

namespace {

// Appends `s` to `out` as a JSON string.
void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
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
}

// Appends ,"key":"value".
void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_quoted(out, value);
}

void append_number(std::string& out, std::string_view key, std::int64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  util::append_decimal(out, value);
}

}  // namespace

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_quoted(out, s);
  return out;
}

// One line per exchange, appended to `out` (a worker reuses one string: no allocation per line).
void append_access_json(std::string& out, const AccessRecord& r) {
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", r.ms);
  char ts[32];
  out += "{\"ts\":";
  append_quoted(out, std::string_view(ts, now_iso8601(ts)));
  append_field(out, "client", r.client);
  append_field(out, "user", r.user);
  append_field(out, "mode", r.mode);
  append_field(out, "method", r.method);
  append_field(out, "host", r.host);
  // Only a query can carry a key: a path without one is written as it is, without a copy.
  if (r.target.find('?') == std::string_view::npos)
    append_field(out, "path", r.target);
  else
    append_field(out, "path", redact_target(r.target));
  append_number(out, "status", r.status);
  append_number(out, "bytes_in", static_cast<std::int64_t>(r.bytes_in));
  append_number(out, "bytes_out", static_cast<std::int64_t>(r.bytes_out));
  out += ",\"ms\":";
  out += ms;
  if (!r.error.empty()) append_field(out, "error", r.error);
  if (!r.provider.empty()) {
    append_field(out, "provider", r.provider);
    append_field(out, "endpoint", r.endpoint);
    append_field(out, "model", r.model);
    append_field(out, "currency", r.currency);
    // Decimal strings, as every amount tollgate writes: exact, whatever the reader's floats.
    if (r.estimate) append_field(out, "estimate", rules::format_micros(*r.estimate));
    if (r.cost) append_field(out, "cost", rules::format_micros(*r.cost));
    out += ",\"budgets\":[";
    for (std::size_t i = 0; i < r.budgets.size(); ++i) {
      if (i > 0) out += ',';
      append_quoted(out, r.budgets[i]);
    }
    out += ']';
    if (!r.refused_by.empty()) append_field(out, "refused_by", r.refused_by);
    if (!r.record.empty()) append_field(out, "record", r.record);
  }
  out += '}';
}

std::string access_json(const AccessRecord& r) {
  std::string out;
  out.reserve(512);
  append_access_json(out, r);
  return out;
}

std::string realtime_json(const RealtimeRecord& r) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  const auto str = [&](const char* key, std::string_view value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  str("ts", now_iso8601());
  str("client", r.client);
  str("user", r.user);
  str("mode", "realtime");
  str("host", r.host);
  str("path", redact_target(r.target));
  str("session", r.session);
  str("response", r.response);
  str("model", r.model);
  str("outcome", r.outcome);
  str("estimate", rules::format_micros(r.estimate));
  str("cost", rules::format_micros(r.cost));
  str("currency", r.currency);
  w.Key("input_tokens");
  w.Int64(r.input_tokens);
  w.Key("cached_tokens");
  w.Int64(r.cached_tokens);
  w.Key("output_tokens");
  w.Int64(r.output_tokens);
  w.Key("audio_input_tokens");
  w.Int64(r.audio_input_tokens);
  w.Key("audio_output_tokens");
  w.Int64(r.audio_output_tokens);
  w.Key("ms");
  w.Double(static_cast<double>(static_cast<std::int64_t>(r.ms * 1000)) / 1000);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void log_realtime(const RealtimeRecord& record) {
  if (g_lines) g_lines->append(realtime_json(record));
}

void init_logging() {
  std::call_once(g_init, [] {
    // Lives until exit (static destruction flushes it): log lines may come from any thread.
    static LineBuffer lines;
    g_lines = &lines;
    auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_diag = std::make_shared<spdlog::logger>("tollgate", err);
    g_diag->set_pattern("{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",\"msg\":%v}",
                        spdlog::pattern_time_type::utc);
    spdlog::register_logger(g_diag);
  });
}

void log_access(const AccessRecord& record) {
  if (!g_lines) return;
  thread_local std::string line;
  line.clear();
  append_access_json(line, record);
  g_lines->append(line);
  // A rare huge line (a long error) does not stay with the thread.
  if (line.capacity() > 16384) std::string().swap(line);
}

void log_line(std::string_view json_line) {
  if (g_lines) g_lines->append(json_line);
}

void log_warning(std::string_view what) {
  if (g_diag) g_diag->warn(json_quote(what));
}

void flush_logs() {
  if (g_lines) g_lines->flush();
  if (g_diag) g_diag->flush();
}

}  // namespace proxy
