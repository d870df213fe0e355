// The wiring of config.store: which journal records the decisions made here (and keeps the cost
// records), and which shared ledger (if any) decides the budgets that several processes share.
#include <filesystem>

#include "budget/store/journal.hpp"
#include "budget/store/receipt_key.hpp"
#include "budget/store/shared_ledger.hpp"
#include "budget/store/sqlite_journal.hpp"
#include "budget/store_enforcer.hpp"

namespace budget {

std::unique_ptr<Enforcer> make_enforcer(std::shared_ptr<const rules::Config> config, Clock& clock) {
  namespace fs = std::filesystem;
  RecordOptions records;
  records.retention = config->records.retention;
  records.memory = config->records.memory;
  records.clock = &clock;
  if (config->receipts.sign)
    records.key =
        ReceiptKey::load_or_create((fs::path(config->data_dir) / "receipts.key").string());
  const auto key = records.key;
  std::unique_ptr<Journal> journal;
  std::unique_ptr<SharedLedger> shared;
  switch (config->store.type) {
    case rules::StoreConfig::Type::memory:
      journal = make_memory_journal(std::move(records));
      break;
    case rules::StoreConfig::Type::sqlite: {
      const fs::path path(config->store.path);
      if (path.has_parent_path()) fs::create_directories(path.parent_path());
      journal = make_sqlite_journal(path.string(), std::move(records));
      break;
    }
    case rules::StoreConfig::Type::redis:
      // Redis decides the shared budgets and keeps them, with every runtime limit and override.
      // What this process decides alone (rolling windows) lives and dies with it, as in memory;
      // its cost records stay with it, in <data_dir>/records.db (no data_dir: in memory). Closes
      // Redis could not take wait in data_dir until it can (in memory without one).
      if (!config->data_dir.empty()) fs::create_directories(config->data_dir);
      shared = make_redis_ledger(config->store.redis.url, config->store.redis.prefix,
                                 config->data_dir.empty()
                                     ? ""
                                     : (fs::path(config->data_dir) / "redis-outbox.db").string());
      if (config->data_dir.empty()) {
        journal = make_memory_journal(std::move(records));
      } else {
        journal = make_sqlite_records_journal((fs::path(config->data_dir) / "records.db").string(),
                                              std::move(records));
      }
      break;
  }
  return std::make_unique<StoreEnforcer>(std::move(config), std::move(journal), std::move(shared),
                                         clock, key);
}

}  // namespace budget
