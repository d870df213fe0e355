#include "budget/store/store.hpp"

namespace budget {
namespace {

// The enforcer's in-memory state is the whole truth: nothing to persist or reload.
class MemoryStore final : public Store {
 public:
  StoreSnapshot load() override { return {}; }
  void write(Mutation, std::function<void(bool durable)> done) override {
    if (done) done(true);
  }
  bool healthy() const override { return true; }
};

}  // namespace

std::unique_ptr<Store> make_memory_store() {
  return std::make_unique<MemoryStore>();
}

}  // namespace budget
