#pragma once
// Delivers events to alerts.webhooks (DESIGN §4): asynchronous, retried with backoff, through a
// bounded queue, so that a slow or dead receiver never blocks a request or loses the ledger.

#include <memory>
#include <string>
#include <vector>

#include "budget/enforcer.hpp"
#include "rules/config.hpp"

namespace proxy {

class WebhookSender {
 public:
  // `trust`: "system" or a PEM bundle for https receivers.
  WebhookSender(std::vector<rules::WebhookConfig> hooks, std::string trust);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Queues the event for every webhook that subscribes to its type; each receiver URL has its
  // own queue and thread, bounded at k_max_queue (the oldest is dropped and counted). Never blocks.
  void send(const budget::Event& event);
  void set_hooks(std::vector<rules::WebhookConfig> hooks);  // after a reload

  std::uint64_t delivered() const;
  std::uint64_t dropped() const;

  static constexpr std::size_t k_max_queue = 1000;
  static constexpr int k_max_attempts = 5;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The JSON body posted for an event.
std::string event_json(const budget::Event& event);

}  // namespace proxy
