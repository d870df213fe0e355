// GET /: the embedded status page, its Content-Security-Policy (the hashes of exactly the inline
// script and style it carries) and the headers every admin answer has.
#include <doctest/doctest.h>

#include <regex>

#include "admin/admin_http.hpp"
#include "admin/status_page.hpp"
#include "admin_test_support.hpp"

using namespace admin_test;

namespace {

std::string header(const proxy::AdminResponse& r, std::string_view name) {
  return std::string(rules::find_header(r.headers, name));
}

}  // namespace

TEST_CASE("csp_hash_of_element, as browsers hash an inline element") {
  // printf 'alert(1)' | openssl dgst -sha256 -binary | base64
  CHECK(proxy::csp_hash_of_element("<p><script>alert(1)</script>", "script") ==
        "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
  CHECK(proxy::csp_hash_of_element("<p>no script</p>", "script") == "");
  CHECK(proxy::csp_hash_of_element("<script>unterminated", "script") == "");
}

TEST_CASE("status_page, one self-contained document") {
  const auto page = proxy::status_page();
  const std::string_view html = page.body;
  CHECK(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(html.starts_with("<!doctype html>"));
  CHECK(html.ends_with("</html>\n"));
  SUBCASE("nothing is loaded from elsewhere") {
    CHECK_FALSE(std::regex_search(page.body, std::regex(R"((src|href)\s*=\s*"(https?:)?//)")));
    CHECK(html.find("<script src") == std::string_view::npos);
    CHECK(html.find("<link rel=\"stylesheet\"") == std::string_view::npos);
    CHECK(html.find("@import") == std::string_view::npos);
  }
  SUBCASE("one inline script and one inline style, both allowed by hash") {
    CHECK(html.find("<script>") == html.rfind("<script>"));
    CHECK(html.find("<style>") == html.rfind("<style>"));
    const auto policy = header(page, "Content-Security-Policy");
    CHECK(policy.starts_with("default-src 'none'; script-src " +
                             proxy::csp_hash_of_element(html, "script") + "; style-src " +
                             proxy::csp_hash_of_element(html, "style") + "; connect-src 'self';"));
    CHECK(policy.find("unsafe-inline") == std::string::npos);
    CHECK(policy.find("frame-ancestors 'none'") != std::string::npos);
    // Markup styles would be blocked: the bars are sized through element.style instead.
    CHECK(html.find(" style=\"") == std::string_view::npos);
  }
  SUBCASE("it reads the API it documents and puts values in as text") {
    for (const auto* path :
         {"/v1/budgets", "/v1/balances", "/v1/breakers", "/v1/events", "/v1/events/stream",
          "/v1/spend?group_by=model", "/v1/spend?group_by=client"})
      CHECK_MESSAGE(html.find(path) != std::string_view::npos, path);
    CHECK(html.find("innerHTML") == std::string_view::npos);
    CHECK(html.find("EventSource") != std::string_view::npos);
  }
  SUBCASE("headers") {
    CHECK(header(page, "X-Frame-Options") == "DENY");
    CHECK(header(page, "Referrer-Policy") == "no-referrer");
    const auto res = proxy::to_http(page, 11, true);
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK(res["Cache-Control"] == "no-store");
    CHECK(res["Content-Security-Policy"] == header(page, "Content-Security-Policy"));
  }
}

TEST_CASE("AdminRoutes::handle, GET / is the status page, for reads without a token") {
  TempDir dir;
  const auto config_path = dir.write("tollgate.yaml", config_yaml("50"));
  RecordingEnforcer enforcer;
  proxy::ConfigHolder holder{load(config_path)};
  proxy::Reloader reloader{config_path, holder, enforcer};
  proxy::AuditLog audit{dir.at("data/audit.log")};
  proxy::AdminRoutes routes{"tok", holder, enforcer, reloader, audit, [] { return true; }};
  const auto r = routes.handle({"GET", "/", "", "", "127.0.0.1:1"});
  CHECK(r.status == 200);
  CHECK(r.body == proxy::status_page_html());
  CHECK(routes.handle({"GET", "/?x=1", "", "", "127.0.0.1:1"}).status == 200);
  CHECK(routes.handle({"POST", "/", "", "", "127.0.0.1:1"}).status == 405);
}
