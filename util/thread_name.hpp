#pragma once
// util::name_thread — names the calling thread as top -H, ps -L, perf and gdb show it
// ("tg-worker", "tg-ledger", ...). Linux keeps 15 characters; a longer name is cut.

#include <pthread.h>

#include <string>

namespace util {

inline void name_thread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace util
