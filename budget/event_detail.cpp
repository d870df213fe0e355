#include "budget/event_detail.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace budget {

struct EventDetail::Impl {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  Impl() { writer.StartObject(); }
  void key(std::string_view k) { writer.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
};

EventDetail::EventDetail() : impl_(std::make_unique<Impl>()) {}
EventDetail::~EventDetail() = default;
EventDetail::EventDetail(EventDetail&&) noexcept = default;
EventDetail& EventDetail::operator=(EventDetail&&) noexcept = default;

EventDetail& EventDetail::str(std::string_view key, std::string_view value) {
  impl_->key(key);
  impl_->writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  return *this;
}

EventDetail& EventDetail::num(std::string_view key, std::int64_t value) {
  impl_->key(key);
  impl_->writer.Int64(value);
  return *this;
}

EventDetail& EventDetail::raw(std::string_view key, std::string_view json) {
  impl_->key(key);
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError())
    impl_->writer.Null();
  else
    impl_->writer.RawValue(json.data(), json.size(), doc.GetType());
  return *this;
}

std::string EventDetail::done() {
  impl_->writer.EndObject();
  std::string out(impl_->buffer.GetString(), impl_->buffer.GetSize());
  impl_ = std::make_unique<Impl>();
  return out;
}

}  // namespace budget
