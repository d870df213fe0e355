#pragma once
// The meters of the realtime protocols tollgate knows (DESIGN §12), by `websocket.format`.

#include <memory>

#include "pipeline/realtime_book.hpp"
#include "pipeline/realtime_meter.hpp"

namespace proxy {

// OpenAI Realtime, GA protocol (openai-realtime): every response is reserved at its worst case
// before it starts (a client's response.create is held until admitted; a response the server
// starts by itself is reserved on response.created) and settled from its response.done usage.
std::unique_ptr<RealtimeMeter> make_openai_realtime_meter(RealtimeSession session);

// Gemini Live (gemini-live): every model turn is reserved when the client's content asks for one
// or the server starts it, and settled from the turn's usageMetadata.
std::unique_ptr<RealtimeMeter> make_gemini_live_meter(RealtimeSession session);

// By session.endpoint->websocket.format.
std::unique_ptr<RealtimeMeter> make_realtime_meter(RealtimeSession session);

}  // namespace proxy
