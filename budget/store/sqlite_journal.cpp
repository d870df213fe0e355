#include "budget/store/sqlite_journal.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>

#include "budget/enforcer.hpp"
#include "budget/store/record_json.hpp"
#include "budget/store/sqlite_records.hpp"
#include "budget/store/sqlite_statement.hpp"
#include "budget/store/sqlite_wal_vfs.hpp"
#include "budget/store/sqlite_write_queue.hpp"
#include "budget/store/store_metrics.hpp"
#include "util/thread_name.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

constexpr const char* k_schema = R"sql(
-- Small pages for a new ledger (an existing file keeps its own): every commit appends each page
-- it changed to the WAL, checksummed, and a hold or a spent row is a few dozen bytes, so 1 KiB
-- pages write (and checksum) a quarter of what 4 KiB pages would for the same commit.
PRAGMA page_size = 1024;
PRAGMA journal_mode = WAL;
-- NORMAL in WAL mode: a commit is in the WAL before it returns, so killing the process loses
-- nothing committed; only a power loss may drop the last commits (FULL would fsync each one).
PRAGMA synchronous = NORMAL;
-- Checkpoints run on their own connection and thread (they fsync), never inside a commit.
PRAGMA wal_autocheckpoint = 0;
CREATE TABLE IF NOT EXISTS spent (budget TEXT NOT NULL, key TEXT NOT NULL,
  period_start INTEGER NOT NULL, amount INTEGER NOT NULL,
  PRIMARY KEY (budget, key, period_start)) WITHOUT ROWID;
-- A hold's parts are one encoded column: opening and closing a hold touches one b-tree. `record`
-- is its cost record as known at admission (JSON), for the record of a hold settled after a crash.
CREATE TABLE IF NOT EXISTS holds (id INTEGER PRIMARY KEY, deadline INTEGER NOT NULL,
  parts TEXT NOT NULL, record TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS limits (budget TEXT PRIMARY KEY, lim INTEGER NOT NULL,
  config_limit INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS overrides (id INTEGER PRIMARY KEY, budget TEXT NOT NULL,
  key TEXT NOT NULL, extra INTEGER NOT NULL, until INTEGER NOT NULL, reason TEXT NOT NULL);
)sql";

// Parts as "budget US key US estimate RS ...": budget names and HTTP header values never hold
// ASCII control characters, so the separators cannot collide.
constexpr char k_unit = '\x1f', k_record = '\x1e';

std::string encode_parts(const std::vector<HoldPart>& parts) {
  std::string out;
  for (const auto& part : parts) {
    out += part.budget;
    out += k_unit;
    out += part.key;
    out += k_unit;
    out += std::to_string(part.estimate);
    out += k_record;
  }
  return out;
}

std::vector<HoldPart> decode_parts(const std::string& text) {
  std::vector<HoldPart> parts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find(k_record, pos);
    const std::string record = text.substr(pos, end - pos);
    const std::size_t a = record.find(k_unit), b = record.find(k_unit, a + 1);
    if (a != std::string::npos && b != std::string::npos)
      parts.push_back(
          {record.substr(0, a), record.substr(a + 1, b - a - 1), std::stoll(record.substr(b + 1))});
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return parts;
}

class SqliteJournal final : public Journal {
 public:
  SqliteJournal(const std::string& path, RecordOptions options, bool records_only)
      : options_(std::move(options)), records_only_(records_only) {
    // Through wal_write_vfs: each commit reaches the WAL in one write (sqlite_wal_vfs.hpp).
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        wal_write_vfs()) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("cannot open ledger " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec(k_schema);
    // A ledger from before cost records: its holds gain the column (empty for those open now).
    if (sqlite3_exec(db_, "SELECT record FROM holds LIMIT 0", nullptr, nullptr, nullptr) !=
        SQLITE_OK)
      exec("ALTER TABLE holds ADD COLUMN record TEXT NOT NULL DEFAULT ''");
    records_ = std::make_unique<SqliteRecords>(db_, path, options_);
    add_spent_ = std::make_unique<SqliteStatement>(
        db_,
        "INSERT INTO spent (budget, key, period_start, amount) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (budget, key, period_start) DO UPDATE SET amount = amount + ?4");
    insert_hold_ = std::make_unique<SqliteStatement>(
        db_, "INSERT INTO holds (id, deadline, parts, record) VALUES (?1, ?2, ?3, ?4)");
    delete_hold_ = std::make_unique<SqliteStatement>(db_, "DELETE FROM holds WHERE id = ?1");
    reset_one_ = std::make_unique<SqliteStatement>(
        db_, "DELETE FROM spent WHERE budget = ?1 AND key = ?2 AND period_start >= ?3");
    reset_all_ = std::make_unique<SqliteStatement>(
        db_, "DELETE FROM spent WHERE budget = ?1 AND period_start >= ?2");
    set_limit_ = std::make_unique<SqliteStatement>(
        db_, "INSERT OR REPLACE INTO limits (budget, lim, config_limit) VALUES (?1, ?2, ?3)");
    add_override_ = std::make_unique<SqliteStatement>(
        db_,
        "INSERT INTO overrides (budget, key, extra, until, reason) VALUES (?1, ?2, ?3, ?4, ?5)");
    begin_ = std::make_unique<SqliteStatement>(db_, "BEGIN IMMEDIATE");
    commit_ = std::make_unique<SqliteStatement>(db_, "COMMIT");
    queue_->commit_inline = [this](std::vector<Pending>& batch) {
      const bool durable = commit(batch);
      for (auto& pending : batch)
        if (pending.done) pending.done(durable);
    };
    writer_ = std::thread([this] {
      util::name_thread("tg-ledger");
      run_writer();
    });
    checkpointer_ = std::thread([this, path] {
      util::name_thread("tg-checkpoint");
      run_checkpointer(path);
    });
  }

  ~SqliteJournal() override {
    {
      std::lock_guard lock(queue_->mutex);
      queue_->stopping = true;  // no inline commit starts from now on
    }
    queue_->wake.notify_all();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_checkpoints_.notify_one();
    writer_.join();  // it waits for an inline commit under way, then commits what is left
    {
      std::lock_guard lock(queue_->mutex);
      queue_->commit_inline = nullptr;
    }
    checkpointer_.join();
    add_spent_.reset();
    insert_hold_.reset();
    delete_hold_.reset();
    reset_one_.reset();
    reset_all_.reset();
    set_limit_.reset();
    add_override_.reset();
    begin_.reset();
    commit_.reset();
    records_.reset();
    sqlite3_close(db_);
  }

  JournalSnapshot load() override {
    std::lock_guard db_lock(db_mutex_);
    JournalSnapshot snapshot;
    SqliteStatement spent(db_, "SELECT budget, key, period_start, amount FROM spent");
    while (spent.step())
      snapshot.spent.push_back({spent.text(0), spent.text(1), spent.integer(2), spent.integer(3)});
    SqliteStatement holds(db_, "SELECT id, deadline, parts, record FROM holds ORDER BY id");
    while (holds.step())
      snapshot.holds.push_back({static_cast<std::uint64_t>(holds.integer(0)), holds.integer(1),
                                decode_parts(holds.text(2)),
                                parse_record_json(holds.text(3)).value_or(CostRecord{})});
    SqliteStatement limits(db_, "SELECT budget, lim, config_limit FROM limits");
    while (limits.step())
      snapshot.limits.push_back({limits.text(0), limits.integer(1), limits.integer(2)});
    SqliteStatement overrides(
        db_, "SELECT budget, key, reason, extra, until FROM overrides ORDER BY id");
    while (overrides.step())
      snapshot.overrides.push_back({overrides.text(0), overrides.text(1), overrides.text(2),
                                    overrides.integer(3), overrides.integer(4)});
    return snapshot;
  }

  void write(Mutation mutation, std::function<void(bool durable)> done) override {
    // A records-only journal keeps nothing of the ledger (a shared ledger keeps it): a write
    // without a record completes at once.
    if (records_only_ && !carries_record(mutation)) {
      if (done) done(true);
      return;
    }
    queue_write(queue_, {std::move(mutation), std::move(done)});
  }

  bool healthy() const override { return healthy_.load(); }

  std::vector<CostRecord> records(const RecordQuery& query) const override {
    return records_->records(query);
  }
  std::vector<SpendGroup> spend(const SpendQuery& query) const override {
    return records_->spend(query);
  }

 private:
  static bool carries_record(const Mutation& mutation) {
    if (const auto* close = std::get_if<CloseHold>(&mutation)) return close->record.has_value();
    return std::holds_alternative<AddRecord>(mutation);
  }

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error("sqlite: " + message);
    }
  }

  // One transaction per batch: everything queued while the previous commit ran goes into the
  // next one, so commits are grouped across concurrent callers without waiting on a timer. The
  // writer sleeps on a condition variable (a futex) when nothing is queued, and is woken once
  // per batch, not per write: no spinning, which on a small machine would take the core the
  // callers need to produce the next writes.
  void run_writer() {
    std::vector<Pending> batch;
    for (;;) {
      {
        std::unique_lock lock(queue_->mutex);
        // Waits for writes, and for an event loop's inline commit to finish: batches commit one
        // at a time, in the order they were queued.
        while (queue_->pending.empty() || queue_->committing) {
          if (queue_->stopping && !queue_->committing) break;
          queue_->writer_waiting = true;
          queue_->wake.wait(lock);
        }
        queue_->writer_waiting = false;
        if (queue_->pending.empty()) return;  // stopping, nothing left to commit
        batch.swap(queue_->pending);
        queue_->committing = true;
      }
      const bool durable = commit(batch);
      // After the commit: a caller acts on a hold or settlement only once it is durable, and
      // learns when it is not.
      for (auto& pending : batch)
        if (pending.done) pending.done(durable);
      batch.clear();
      std::lock_guard lock(queue_->mutex);
      queue_->committing = false;
    }
  }

  // Twice a second: rolls the new records up into the spend sums, prunes past retention (every
  // options_.prune_every) and moves the WAL into the database without blocking the writer
  // (PASSIVE), so that commits never pay for a checkpoint's fsync. Under a steady stream of commits
  // a passive checkpoint never catches up with the last frame, so the WAL would never start over
  // and would grow without bound (and every commit would extend the file: new blocks, zeroed by the
  // file system). When it holds more than k_restart_frames, a RESTART checkpoint waits for the
  // writer's current transaction, copies the few frames written since the passive one and makes
  // the next commit write from the start of the WAL again: one short stall (two fsyncs) per
  // k_restart_frames frames.
  void run_checkpointer(const std::string& path) {
    constexpr int k_restart_frames = 16384;  // 16 MiB of WAL with 1 KiB pages
    sqlite3* db = nullptr;
    // Its roll-ups and prunes write many pages per transaction: gathered too.
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        wal_write_vfs()) != SQLITE_OK) {
      sqlite3_close(db);
      return;
    }
    sqlite3_busy_timeout(db, 200);
    auto statements = std::make_unique<SqliteStatementCache>(db);  // finalized before the close
    auto next_prune = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    bool behind = false;  // the last round's roll-up ran out of time: no pause before the next
    while (!stopping_) {
      if (!behind) stop_checkpoints_.wait_for(lock, std::chrono::milliseconds(500));
      lock.unlock();
      int log_frames = 0, checkpointed = 0;
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &checkpointed);
      if (log_frames > k_restart_frames)
        sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
      behind = !roll_up(*statements);
      if (std::chrono::steady_clock::now() >= next_prune) {
        next_prune = std::chrono::steady_clock::now() + options_.prune_every;
        prune(*statements);
      }
      lock.lock();
    }
    lock.unlock();
    statements.reset();
    sqlite3_close(db);
  }

  // The records kept since the last round are added to the spend sums, and those past retention
  // pruned, one small batch (one transaction) at a time, each under db_mutex_: the writer waits
  // for at most one batch, woken as it ends rather than polling a busy file, and gets the file
  // before the next batch (the pause between them). A round ends after k_round of work; a batch
  // that fails (the file busy from another process) waits for the next round.
  static constexpr auto k_round = std::chrono::milliseconds(200);
  static constexpr auto k_pause = std::chrono::milliseconds(1);

  // True when the work is done (a batch came back short, or failed), false when the round ran out.
  template <typename F>
  bool in_batches(std::int64_t batch, F&& work) {
    const auto end = std::chrono::steady_clock::now() + k_round;
    try {
      for (;;) {
        std::int64_t done = 0;
        {
          std::lock_guard db_lock(db_mutex_);
          done = work(batch);
        }
        if (done < batch) return true;
        if (std::chrono::steady_clock::now() >= end) return false;
        std::this_thread::sleep_for(k_pause);
      }
    } catch (const std::exception&) {
      return true;
    }
  }

  // Behind (more than a round's worth of new records), the next round starts at once: the
  // roll-up keeps up with any rate of commits, each commit still waiting for one batch at most.
  bool roll_up(SqliteStatementCache& db) {
    return in_batches(250, [&db](std::int64_t n) { return SqliteRecords::roll_up(db, n); });
  }

  void prune(SqliteStatementCache& db) {
    const auto now = options_.clock ? options_.clock->now() : std::chrono::system_clock::now();
    const std::int64_t oldest = util::unix_millis(now - options_.retention);
    in_batches(500, [&db, oldest](std::int64_t n) { return SqliteRecords::prune(db, oldest, n); });
  }

  // True when the batch is committed; false when nothing of it is (rolled back as a whole).
  // The batch's records are moved into the ledger: nothing reads them after the commit.
  bool commit(std::vector<Pending>& batch) {
    std::lock_guard db_lock(db_mutex_);
    records_->begin();
    const auto started = std::chrono::steady_clock::now();
    try {
      begin_->run();
      for (auto& pending : batch) apply(pending.mutation);
      commit_->run();
      healthy_ = true;
    } catch (const std::exception&) {
      // Readiness reports the store down until a commit succeeds again.
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      records_->rolled_back();
      healthy_ = false;
    }
    if (StoreMetrics* metrics = store_metrics()) {
      if (healthy_)
        metrics->observe("sqlite", "commit", std::chrono::steady_clock::now() - started);
      else
        metrics->error("sqlite");
    }
    return healthy_;
  }

  void apply(Mutation& mutation) {
    std::visit([this](auto& m) { apply(m); }, mutation);
  }
  void apply(const OpenHold& m) {
    if (records_only_) return;
    insert_hold_->bind(1, static_cast<std::int64_t>(m.hold.id))
        .bind(2, m.hold.deadline)
        .bind_view(3, encode_parts(m.hold.parts))
        .bind_view(4, record_json_view(m.hold.record))
        .run();
  }
  void apply(CloseHold& m) {
    // Deleting the hold, adding its cost and keeping its record share one transaction: never
    // lost, never twice, never one without the other.
    if (!records_only_) {
      delete_hold_->bind(1, static_cast<std::int64_t>(m.hold)).run();
      for (const auto& row : m.charged)
        add_spent_->bind_view(1, row.budget)
            .bind_view(2, row.key)
            .bind(3, row.period_start)
            .bind(4, row.amount)
            .run();
    }
    if (m.record) records_->insert(std::move(*m.record));
  }
  void apply(AddRecord& m) { records_->insert(std::move(m.record)); }
  void apply(const Reset& m) {
    if (records_only_) return;
    if (m.key.empty())
      reset_all_->bind(1, m.budget).bind(2, m.from).run();
    else
      reset_one_->bind(1, m.budget).bind(2, m.key).bind(3, m.from).run();
  }
  void apply(const SetLimit& m) {
    if (records_only_) return;
    set_limit_->bind(1, m.limit.budget).bind(2, m.limit.limit).bind(3, m.limit.config_limit).run();
  }
  void apply(const AddOverride& m) {
    if (records_only_) return;
    add_override_->bind(1, m.override_.budget)
        .bind(2, m.override_.key)
        .bind(3, m.override_.extra)
        .bind(4, m.override_.until)
        .bind(5, m.override_.reason)
        .run();
  }

  const RecordOptions options_;
  const bool records_only_;  // a shared ledger keeps the rest: only records are written here
  sqlite3* db_ = nullptr;
  std::unique_ptr<SqliteRecords> records_;
  std::unique_ptr<SqliteStatement> add_spent_, insert_hold_, delete_hold_, reset_one_, reset_all_,
      set_limit_, add_override_, begin_, commit_;
  std::mutex db_mutex_;  // load() and the writer never use the connection at once
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::mutex mutex_;                          // stopping_, for the checkpointer
  std::condition_variable stop_checkpoints_;  // the checkpointer: stopping
  bool stopping_ = false;
  std::atomic<bool> healthy_{true};
  std::thread writer_, checkpointer_;
};

}  // namespace

std::unique_ptr<Journal> make_sqlite_journal(const std::string& path, RecordOptions options) {
  return std::make_unique<SqliteJournal>(path, std::move(options), false);
}

std::unique_ptr<Journal> make_sqlite_records_journal(const std::string& path,
                                                     RecordOptions options) {
  return std::make_unique<SqliteJournal>(path, std::move(options), true);
}

}  // namespace budget
