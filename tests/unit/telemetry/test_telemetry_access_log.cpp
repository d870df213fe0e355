// The access log batches lines in memory (issue 6): every line logged from any thread reaches
// stdout, in one piece, by flush_logs() (what SIGTERM and exit run), and within the batch
// interval without it.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/access_log.hpp"

namespace {

// Points fd 1 at a temporary file for the lifetime of the object.
class CapturedStdout {
 public:
  CapturedStdout() {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    file_ = std::tmpfile();
    ::dup2(::fileno(file_), STDOUT_FILENO);
  }
  ~CapturedStdout() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
    std::fclose(file_);
  }
  std::vector<std::string> lines() const {
    std::string text;
    char buf[65536];
    for (off_t at = 0;;) {
      const ssize_t n = ::pread(::fileno(file_), buf, sizeof buf, at);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  int saved_ = -1;
  std::FILE* file_ = nullptr;
};

proxy::AccessRecord record(int thread, int i) {
  proxy::AccessRecord r;
  r.client = "127.0.0.1:" + std::to_string(40000 + thread);
  r.mode = "intercept";
  r.method = "POST";
  r.host = "api.openai.com";
  r.target = "/v1/chat/completions?n=" + std::to_string(i);
  r.status = 200;
  return r;
}

}  // namespace

TEST_CASE("access log: every line from every thread is out after flush_logs") {
  proxy::init_logging();
  CapturedStdout out;
  constexpr int k_threads = 4, k_lines = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < k_lines; ++i) proxy::log_access(record(t, i));
    });
  for (auto& t : threads) t.join();
  proxy::log_line(R"({"event":"last"})");
  proxy::flush_logs();

  const auto lines = out.lines();
  REQUIRE(lines.size() == k_threads * k_lines + 1);
  std::vector<int> next(k_threads, 0);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    const auto& line = lines[i];
    REQUIRE(line.front() == '{');
    REQUIRE(line.back() == '}');
    const int t = std::stoi(line.substr(line.find("127.0.0.1:") + 10, 5)) - 40000;
    REQUIRE(t >= 0);
    REQUIRE(t < k_threads);
    // Each thread's lines stay whole and in the order it logged them.
    CHECK(line.find("?n=" + std::to_string(next[t]) + "\"") != std::string::npos);
    ++next[t];
  }
  CHECK(lines.back() == R"({"event":"last"})");
}

TEST_CASE("access log: a line reaches stdout without a flush, within the batch interval") {
  proxy::init_logging();
  CapturedStdout out;
  proxy::log_line(R"({"event":"unflushed"})");
  const auto start = std::chrono::steady_clock::now();
  // The writer thread's batch interval is 100 ms; allow a loaded machine ten times that.
  while (out.lines().empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(1))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(out.lines().size() == 1);
  CHECK(out.lines()[0] == R"({"event":"unflushed"})");
}
