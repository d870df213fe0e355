// The wiring of config.store: which journal records the decisions made here, and which shared
// ledger (if any) decides the budgets that several processes share.
#include <filesystem>

#include "budget/store/journal.hpp"
#include "budget/store/shared_ledger.hpp"
#include "budget/store/sqlite_journal.hpp"
#include "budget/store_enforcer.hpp"

namespace budget {

std::unique_ptr<Enforcer> make_enforcer(std::shared_ptr<const rules::Config> config, Clock& clock) {
  std::unique_ptr<Journal> journal;
  std::unique_ptr<SharedLedger> shared;
  switch (config->store.type) {
    case rules::StoreConfig::Type::memory:
      journal = make_memory_journal();
      break;
    case rules::StoreConfig::Type::sqlite: {
      const std::filesystem::path path(config->store.path);
      if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
      journal = make_sqlite_journal(path.string());
      break;
    }
    case rules::StoreConfig::Type::redis:
      // Redis decides the shared budgets and keeps them, with every runtime limit and override.
      // What this process decides alone (rolling windows) lives and dies with it, as in memory.
      shared = make_redis_ledger(config->store.redis.url, config->store.redis.prefix);
      journal = make_memory_journal();
      break;
  }
  return std::make_unique<StoreEnforcer>(std::move(config), std::move(journal), std::move(shared),
                                         clock);
}

}  // namespace budget
