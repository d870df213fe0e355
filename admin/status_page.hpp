#pragma once
// GET / (DESIGN §13): the status page, one HTML document with its style and script inline,
// compiled into the binary from admin/status_page/index.html (no external assets). It reads the
// same open endpoints as any client: /v1/budgets, /v1/balances, /v1/breakers, /v1/events,
// /v1/spend (when it answers) and /v1/events/stream.

#include <string>
#include <string_view>

#include "admin/admin_routes.hpp"

namespace proxy {

// admin/status_page/index.html as built into the binary.
std::string_view status_page_html();

// The page with headers that let nothing but the page itself run: the Content-Security-Policy
// allows its one inline <script> and <style> by their SHA-256 and connections to this origin.
AdminResponse status_page();

// "'sha256-<base64>'" of the text between the first <tag> and its </tag>, as CSP hashes it;
// "" when `html` has no such element.
std::string csp_hash_of_element(std::string_view html, std::string_view tag);

}  // namespace proxy
