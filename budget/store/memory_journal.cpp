#include <algorithm>
#include <deque>
#include <mutex>

#include "budget/enforcer.hpp"
#include "budget/store/journal.hpp"
#include "budget/store/record_chain.hpp"
#include "util/time.hpp"

namespace budget {
namespace {

// The enforcer's in-memory state is the whole truth: nothing to record or give back, so every
// write completes at once, inside write(). Cost records go to a bounded ring (the oldest, and
// those past retention, leave first), linked into the receipt chain as they arrive.
class MemoryJournal final : public Journal {
 public:
  explicit MemoryJournal(RecordOptions options)
      : options_(std::move(options)), chain_(options_.key, "") {}

  JournalSnapshot load() override { return {}; }

  void write(Mutation mutation, std::function<void(bool durable)> done) override {
    if (auto* close = std::get_if<CloseHold>(&mutation); close && close->record)
      keep(std::move(*close->record));
    else if (auto* add = std::get_if<AddRecord>(&mutation))
      keep(std::move(add->record));
    if (done) done(true);
  }

  bool healthy() const override { return true; }

  std::vector<CostRecord> records(const RecordQuery& query) const override {
    std::vector<CostRecord> out;
    std::lock_guard lock(mutex_);
    for (const auto& r : ring_)
      if (query.range.contains(r.at) && (query.currency.empty() || r.currency == query.currency))
        out.push_back(r);
    if (query.order == RecordQuery::Order::cost)
      std::stable_sort(out.begin(), out.end(), [](const CostRecord& a, const CostRecord& b) {
        return a.actual != b.actual ? a.actual > b.actual : a.estimate > b.estimate;
      });
    if (out.size() > query.limit) out.resize(query.limit);
    return out;
  }

  std::vector<SpendGroup> spend(const SpendQuery& query) const override {
    SpendTally tally(query);
    std::lock_guard lock(mutex_);
    for (const auto& r : ring_)
      if (query.range.contains(r.at) && (query.currency.empty() || r.currency == query.currency))
        tally.add(r);
    return std::move(tally).groups();
  }

 private:
  void keep(CostRecord record) {
    const auto now = options_.clock ? options_.clock->now() : std::chrono::system_clock::now();
    const std::int64_t oldest = util::unix_millis(now - options_.retention);
    std::lock_guard lock(mutex_);
    chain_.link(record);
    ring_.push_back(std::move(record));
    while (!ring_.empty() && (ring_.size() > options_.memory || ring_.front().at < oldest))
      ring_.pop_front();
  }

  const RecordOptions options_;
  mutable std::mutex mutex_;
  RecordChain chain_;
  std::deque<CostRecord> ring_;
};

}  // namespace

std::unique_ptr<Journal> make_memory_journal(RecordOptions options) {
  return std::make_unique<MemoryJournal>(std::move(options));
}

}  // namespace budget
