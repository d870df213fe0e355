#pragma once
// Reading one field of a multipart/form-data request body (RFC 7578), as OpenAI's file uploads
// send them: enough to find an upload's `purpose` and its file's bytes, no more.

#include <optional>
#include <string_view>

namespace rules {

// The content of the part named `name` (a field's value, or a file's bytes) of a multipart body
// whose Content-Type is `content_type`; nullopt when the type is not multipart/form-data with a
// boundary, or no part has that name.
std::optional<std::string_view> multipart_field(std::string_view content_type,
                                                std::string_view body, std::string_view name);

}  // namespace rules
