#pragma once
// Parsers whose head fields live in a HeadArena of their own (head_arena.hpp): the parsed
// request head and the upstream's response head. Only .cpp files that include net.hpp use this.

#include <memory_resource>
#include <tuple>
#include <utility>

#include "proxy/head_arena.hpp"
#include "proxy/net.hpp"

namespace proxy {

using HeadAllocator = std::pmr::polymorphic_allocator<char>;
// Header fields from a head's arena (or the heap, for fields made without one).
using HeadFields = net::http::basic_fields<HeadAllocator>;

namespace detail {
struct ArenaHolder {
  HeadArena arena;
};
}  // namespace detail

// A Beast parser that owns the arena its fields are allocated from. The arena is a base that
// comes first, so it is made before the parser's fields and outlives them. A parser for the body
// that takes this one's head (Beast's converting constructor) keeps using this arena: this
// parser must outlive it.
template <bool isRequest, class Body>
class ArenaParser : private detail::ArenaHolder,
                    public net::http::parser<isRequest, Body, HeadAllocator> {
 public:
  using Parser = net::http::parser<isRequest, Body, HeadAllocator>;

  ArenaParser()
      : Parser(std::piecewise_construct, std::make_tuple(),
               std::make_tuple(HeadAllocator(&this->arena))) {}

  const HeadArena& head_arena() const { return arena; }
  // As the Beast parser it is, for a parser that takes its head:
  // `BodyParser body{head->parser()}` (this one stays, and keeps the arena).
  Parser&& parser() { return std::move(*this); }
};

}  // namespace proxy
