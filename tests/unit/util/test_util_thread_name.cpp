// util::name_thread: the name top -H and perf show, cut to Linux's 15 characters.
#include <doctest/doctest.h>
#include <pthread.h>

#include <string>
#include <thread>

#include "util/thread_name.hpp"

namespace {
std::string name_after(const std::string& given) {
  std::string seen;
  std::thread([&] {
    util::name_thread(given);
    char buf[64] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  }).join();
  return seen;
}
}  // namespace

TEST_CASE("name_thread names the calling thread") {
  CHECK(name_after("tg-worker") == "tg-worker");
  CHECK(name_after("tg-a-name-longer-than-fifteen") == "tg-a-name-longe");
}
