#pragma once
// The hooks that make tollgate a budget proxy: price the request (rules/), reserve it
// (budget::Enforcer), refuse locally in the provider's shape, read the usage from the response and
// settle the hold at the actual cost on every ending.

#include <memory>

#include "budget/enforcer.hpp"
#include "pipeline/exchange_hooks.hpp"

namespace proxy {

class EnforcementHookFactory final : public HookFactory {
 public:
  explicit EnforcementHookFactory(budget::Enforcer& enforcer) : enforcer_(enforcer) {}
  std::unique_ptr<ExchangeHooks> create(const Exchange& exchange) override;

 private:
  budget::Enforcer& enforcer_;
};

// Who the client is, per clients.identify (empty when unknown).
std::string client_identity(const rules::ClientsConfig& clients, const Exchange& exchange);

}  // namespace proxy
