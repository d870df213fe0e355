#include "telemetry/webhooks.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "telemetry/access_log.hpp"
#include "telemetry/http_client.hpp"
#include "util/thread_name.hpp"

namespace proxy {
namespace {

struct Delivery {
  std::string url, body;
  int attempts = 0;
  std::chrono::steady_clock::time_point not_before{};
};

std::string iso_time(budget::TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool subscribes(const rules::WebhookConfig& hook, std::string_view type) {
  if (hook.events.empty()) return true;
  for (const auto& e : hook.events)
    if (e == type || (e == "refused" && type == "would_refuse") ||
        (e == "threshold" && type == "balance_warning"))
      return true;
  return false;
}

}  // namespace

// One queue and one thread per receiver URL: a slow or dead receiver delays only its own events.
struct Channel {
  std::string url;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Delivery> queue;
  bool stopping = false;
  std::thread thread;

  void loop(const HttpClient& client, std::atomic<std::uint64_t>& delivered,
            std::atomic<std::uint64_t>& dropped) {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (queue.empty()) {
        wake.wait(lock);
        continue;
      }
      // The delivery due first (a retry waits its backoff; new events behind it do not).
      auto due = std::min_element(queue.begin(), queue.end(), [](const auto& a, const auto& b) {
        return a.not_before < b.not_before;
      });
      if (due->not_before > std::chrono::steady_clock::now()) {
        wake.wait_until(lock, due->not_before);
        continue;
      }
      Delivery d = std::move(*due);
      queue.erase(due);
      lock.unlock();
      const bool ok = client.request("POST", d.url, d.body).ok();
      lock.lock();
      if (ok) {
        ++delivered;
      } else if (++d.attempts < WebhookSender::k_max_attempts) {
        // Backoff 1 s, 2 s, 4 s, 8 s.
        d.not_before =
            std::chrono::steady_clock::now() + std::chrono::seconds(1 << (d.attempts - 1));
        queue.push_back(std::move(d));
      } else {
        ++dropped;
        log_warning("webhook " + d.url + ": gave up after " +
                    std::to_string(WebhookSender::k_max_attempts) + " attempts");
      }
    }
  }
};

struct WebhookSender::Impl {
  std::mutex mutex;  // hooks and channels
  std::vector<rules::WebhookConfig> hooks;
  std::vector<std::unique_ptr<Channel>> channels;  // created on first use, kept until shutdown
  std::atomic<std::uint64_t> delivered{0}, dropped{0};
  std::unique_ptr<HttpClient> client;

  Channel& channel(const std::string& url) {
    for (auto& c : channels)
      if (c->url == url) return *c;
    auto& c = channels.emplace_back(std::make_unique<Channel>());
    c->url = url;
    Channel* raw = c.get();
    c->thread = std::thread([this, raw] {
      util::name_thread("tg-webhook");
      raw->loop(*client, delivered, dropped);
    });
    return *raw;
  }
};

WebhookSender::WebhookSender(std::vector<rules::WebhookConfig> hooks, std::string trust)
    : impl_(std::make_unique<Impl>()) {
  impl_->hooks = std::move(hooks);
  impl_->client = std::make_unique<HttpClient>(trust);
}

WebhookSender::~WebhookSender() {
  std::lock_guard lock(impl_->mutex);
  for (auto& c : impl_->channels) {
    {
      std::lock_guard channel_lock(c->mutex);
      c->stopping = true;
    }
    c->wake.notify_all();
  }
  for (auto& c : impl_->channels) c->thread.join();
}

void WebhookSender::send(const budget::Event& event) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->hooks.empty()) return;
  const std::string body = event_json(event);
  for (const auto& hook : impl_->hooks) {
    if (!subscribes(hook, budget::event_type_name(event.type))) continue;
    Channel& c = impl_->channel(hook.url);
    {
      std::lock_guard channel_lock(c.mutex);
      if (c.queue.size() >= k_max_queue) {
        c.queue.pop_front();
        ++impl_->dropped;
      }
      c.queue.push_back({hook.url, body, 0, {}});
    }
    c.wake.notify_one();
  }
}

void WebhookSender::set_hooks(std::vector<rules::WebhookConfig> hooks) {
  std::lock_guard lock(impl_->mutex);
  impl_->hooks = std::move(hooks);
}

std::uint64_t WebhookSender::delivered() const {
  return impl_->delivered;
}
std::uint64_t WebhookSender::dropped() const {
  return impl_->dropped;
}

std::string event_json(const budget::Event& e) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  const auto str = [&out](const char* key, std::string_view value) {
    out.Key(key);
    out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  out.StartObject();
  out.Key("id");
  out.Uint64(e.id);
  str("at", iso_time(e.at));
  str("type", budget::event_type_name(e.type));
  str("budget", e.budget);
  str("key", e.key);
  str("message", e.message);
  // The detail is built by budget::EventDetail, a JSON writer: it is an object (or empty).
  const std::string_view detail =
      e.detail_json.empty() ? std::string_view("{}") : std::string_view(e.detail_json);
  out.Key("detail");
  out.RawValue(detail.data(), detail.size(), rapidjson::kObjectType);
  out.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace proxy
