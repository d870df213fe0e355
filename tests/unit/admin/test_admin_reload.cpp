// Reloader: validation before swap, restart-only settings kept, events, and the inotify folder
// watch picking up an in-place edit and a Kubernetes-style `..data` symlink swap.
#include <doctest/doctest.h>

#include <thread>

#include "admin/reloader.hpp"
#include "admin_test_support.hpp"

using namespace admin_test;
using namespace std::chrono_literals;

namespace {

const rules::BudgetConfig& daily(const proxy::ConfigHolder& holder) {
  return holder.get()->budgets.at(0);
}

// Polls `done` for up to five seconds (the watcher debounces, then reloads on its thread).
template <typename F>
bool eventually(F done) {
  for (int i = 0; i < 500; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST_CASE("Reloader::reload, validation first") {
  TempDir dir;
  const auto path = dir.write("tollgate.yaml", config_yaml("50"));
  RecordingEnforcer enforcer;
  proxy::ConfigHolder holder{load(path)};
  enforcer.apply_config(holder.get());
  proxy::Reloader reloader{path, holder, enforcer};
  const auto before = holder.get();

  SUBCASE("invalid config: refused with FILE:LINE:COL, old one keeps serving") {
    dir.write("tollgate.yaml", config_yaml("50") + "bogus_key: 1\n");
    const auto outcome = reloader.reload("test");
    CHECK_FALSE(outcome.ok);
    REQUIRE(outcome.errors.size() == 1);
    CHECK(outcome.errors[0] == path + ":5:1: unknown key 'bogus_key' in the config");
    CHECK(holder.get() == before);
    CHECK(enforcer.applied == before);
    REQUIRE(enforcer.events_of("error") == 1);
    CHECK(enforcer.events.back().message ==
          "config reload (test) refused: 1 error(s), first: " + outcome.errors[0]);
    CHECK(reloader.successful_reloads() == 0);
  }
  SUBCASE("valid config: swapped and applied, limit changes") {
    dir.write("tollgate.yaml", config_yaml("75.5"));
    const auto outcome = reloader.reload("test");
    CHECK(outcome.ok);
    CHECK(outcome.warnings.empty());
    CHECK(holder.get() != before);
    CHECK(daily(holder).limit == 75'500'000);
    CHECK(enforcer.applied == holder.get());
    CHECK(enforcer.events_of("reload") == 1);
    CHECK(enforcer.events.back().message == "config reloaded (test)");
    CHECK(before->budgets.at(0).limit == 50'000'000);  // in-flight snapshots are untouched
  }
  SUBCASE("restart-only settings are kept, with a warning") {
    dir.write("tollgate.yaml", config_yaml("50") + "listen: 127.0.0.1:18080\nthreads: 3\n");
    const auto outcome = reloader.reload("test");
    CHECK(outcome.ok);
    REQUIRE(outcome.warnings.size() == 2);
    CHECK(outcome.warnings[0] == "listen changed: needs a restart, keeping the running value");
    CHECK(outcome.warnings[1] == "threads changed: needs a restart, keeping the running value");
    CHECK(holder.get()->listen.port == before->listen.port);
    CHECK(holder.get()->threads == before->threads);
  }
  SUBCASE("embedded defaults have no file to re-read") {
    proxy::Reloader embedded{"", holder, enforcer};
    const auto outcome = embedded.reload("test");
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.errors ==
          std::vector<std::string>{"no config file: running on the embedded defaults"});
  }
  SUBCASE("reload_if_changed compares content, not timestamps") {
    CHECK_FALSE(reloader.reload_if_changed("touch"));
    dir.write("tollgate.yaml", config_yaml("50"));  // same bytes rewritten
    CHECK_FALSE(reloader.reload_if_changed("touch"));
    dir.write("tollgate.yaml", config_yaml("60"));
    CHECK(reloader.reload_if_changed("edit"));
    CHECK(daily(holder).limit == 60'000'000);
  }
  SUBCASE("an included file counts") {
    dir.write("rules/extra.yaml",
              "budgets:\n  - { name: extra, currency: usd, limit: 1, period: day }\n");
    dir.write("tollgate.yaml",
              "include: [catalog:openai, rules/extra.yaml]\nstore: { type: memory }\nbudgets:\n"
              "  - { name: daily, currency: usd, limit: 50, period: day }\n");
    REQUIRE(reloader.reload("test").ok);
    REQUIRE(holder.get()->budgets.size() == 2);
    CHECK_FALSE(reloader.reload_if_changed("touch"));
    dir.write("rules/extra.yaml",
              "budgets:\n  - { name: extra, currency: usd, limit: 2, period: day }\n");
    CHECK(reloader.reload_if_changed("edit"));
    bool found = false;
    for (const auto& b : holder.get()->budgets)
      if (b.name == "extra") found = b.limit == 2'000'000;
    CHECK(found);
  }
}

TEST_CASE("Reloader::start_watching, file changes") {
  TempDir dir;
  SUBCASE("an edit in place, then an invalid edit that is refused") {
    const auto path = dir.write("tollgate.yaml", config_yaml("50"));
    RecordingEnforcer enforcer;
    proxy::ConfigHolder holder{load(path)};
    proxy::Reloader reloader{path, holder, enforcer};
    reloader.start_watching(50ms);
    dir.write("tollgate.yaml", config_yaml("51"));
    CHECK(eventually([&] { return daily(holder).limit == 51'000'000; }));
    dir.write("tollgate.yaml", "budgets: [\n");
    CHECK(eventually([&] { return enforcer.events_of("error") == 1; }));
    CHECK(daily(holder).limit == 51'000'000);
    reloader.stop();
  }
  SUBCASE("Kubernetes ConfigMap: the ..data symlink is swapped") {
    // The kubelet's layout: tollgate.yaml -> ..data/tollgate.yaml, ..data -> ..2024_v1; an
    // update writes ..2024_v2, points ..data_tmp at it and renames ..data_tmp onto ..data.
    dir.write("..2024_v1/tollgate.yaml", config_yaml("50"));
    fs::create_directory_symlink("..2024_v1", dir.path / "..data");
    fs::create_symlink("..data/tollgate.yaml", dir.path / "tollgate.yaml");
    const auto path = dir.at("tollgate.yaml");
    RecordingEnforcer enforcer;
    proxy::ConfigHolder holder{load(path)};
    proxy::Reloader reloader{path, holder, enforcer};
    reloader.start_watching(50ms);
    dir.write("..2024_v2/tollgate.yaml", config_yaml("99"));
    fs::create_directory_symlink("..2024_v2", dir.path / "..data_tmp");
    fs::rename(dir.path / "..data_tmp", dir.path / "..data");
    fs::remove_all(dir.path / "..2024_v1");
    CHECK(eventually([&] { return daily(holder).limit == 99'000'000; }));
    CHECK(reloader.successful_reloads() == 1);
    CHECK(enforcer.events_of("reload") == 1);
    CHECK(enforcer.events.back().detail_json.find("\"reason\":\"file change\"") !=
          std::string::npos);
    reloader.stop();
  }
}
