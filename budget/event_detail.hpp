#pragma once
// budget::EventDetail — the `detail` object of an event, built with RapidJSON's writer so that any
// name (a budget, a provider, an admin's reason) is escaped; never assembled by concatenation.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace budget {

class EventDetail {
 public:
  EventDetail();
  ~EventDetail();
  EventDetail(EventDetail&&) noexcept;
  EventDetail& operator=(EventDetail&&) noexcept;

  EventDetail& str(std::string_view key, std::string_view value);
  EventDetail& num(std::string_view key, std::int64_t value);
  // `json` must be a complete JSON value (as produced by another writer); invalid text is
  // written as null rather than breaking the object.
  EventDetail& raw(std::string_view key, std::string_view json);
  // The object's text; the builder is empty afterwards.
  std::string done();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace budget
