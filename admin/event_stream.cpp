#include "admin/event_stream.hpp"

#include <algorithm>

#include "admin/admin_json.hpp"

namespace proxy {

std::string sse_event(const budget::Event& event) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  write_event(out, event);
  std::string frame = "id: " + std::to_string(event.id) + "\n";
  frame += "event: " + std::string(budget::event_type_name(event.type)) + "\n";
  frame += "data: ";
  frame.append(buffer.GetString(), buffer.GetSize());
  frame += "\n\n";
  return frame;
}

StreamSlots::Slot::~Slot() {
  if (owner_) owner_->in_use_.fetch_sub(1);
}

std::optional<StreamSlots::Slot> StreamSlots::try_acquire() {
  auto current = in_use_.load();
  do {
    if (current >= max_) return std::nullopt;
  } while (!in_use_.compare_exchange_weak(current, current + 1));
  return Slot(this);
}

}  // namespace proxy
