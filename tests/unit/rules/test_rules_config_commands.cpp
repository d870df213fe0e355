// `tollgate check` and `tollgate estimate` as functions: output and exit codes.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "rules/commands.hpp"

namespace fs = std::filesystem;

namespace {

std::string write_temp(const std::string& name, std::string_view text) {
  const auto path =
      fs::temp_directory_path() / ("tollgate-cmd-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("check_command, valid and invalid files") {
  std::ostringstream out, err;
  SUBCASE("valid: one summary line, exit 0") {
    const auto path = write_temp("ok.yaml", R"(include: [catalog:keepa]
budgets:
  - { name: tokens, currency: keepa_token, limit: 1000 }
)");
    CHECK(rules::check_command(path, out, err) == 0);
    CHECK(out.str() == path + ": valid (1 providers, 8 endpoints, 0 models, 1 budgets)\n");
    CHECK(err.str() == "");
    fs::remove(path);
  }
  SUBCASE("invalid: every problem, then the count, exit 1") {
    const auto path = write_temp("bad.yaml", R"(listn: 127.0.0.1:1
budgets:
  - { name: b, currency: eur, limit: ten }
)");
    CHECK(rules::check_command(path, out, err) == 1);
    CHECK(out.str() == "");
    CHECK(err.str() ==
          path + ":1:1: unknown key 'listn' in the config (did you mean 'listen'?)\n" + path +
              ":3:38: 'limit' must be a decimal amount >= 0 with at most 6 decimals, got 'ten'\n" +
              path +
              ":3:5: budget 'b' uses currency 'eur' that no provider bills in\n3 problems\n");
    fs::remove(path);
  }
  SUBCASE("no path: the embedded defaults") {
    CHECK(rules::check_command("", out, err) == 0);
    CHECK(out.str().starts_with("<embedded>: valid (5 providers, "));
    CHECK(out.str().ends_with(" models, 1 budgets)\n"));
  }
}

TEST_CASE("estimate_command, text and json") {
  std::ostringstream out, err;
  rules::EstimateArgs args;
  SUBCASE("--json for a Keepa product request (GET, query in the URL)") {
    args.url = "https://api.keepa.com/product?key=K&domain=1&asin=A,B,C";
    args.json = true;
    CHECK(rules::estimate_command(args, out, err) == 0);
    CHECK(out.str().starts_with(
        R"({"provider":"keepa","endpoint":"product","model":"","currency":"keepa_token","estimate":"3",)"));
  }
  SUBCASE("text, --data @file makes a POST like curl, a header is accepted") {
    args.url = "https://api.anthropic.com/v1/messages";
    args.data =
        "@" +
        write_temp("body.json", R"({"model":"claude-sonnet-4-5","max_tokens":2000,"messages":[]})");
    args.headers = {"x-api-key: secret"};
    CHECK(rules::estimate_command(args, out, err) == 0);
    // output 2000 x 15 = 0.03; input "[]" 2 bytes -> 1 token x 3 = 0.000003
    CHECK(
        out.str().starts_with("provider:  anthropic\nendpoint:  messages\nmodel:     "
                              "claude-sonnet-4-5\ncurrency:  usd\nestimate:  0.030003\n"));
    CHECK(out.str().find("  output <= 2000 tokens from body:/max_tokens\n") != std::string::npos);
    fs::remove(args.data.substr(1));
  }
  SUBCASE("a refused request exits 1 and says why") {
    args.url = "https://api.openai.com/v1/chat/completions";
    args.data = R"({"messages":[]})";
    CHECK(rules::estimate_command(args, out, err) == 1);
    CHECK(out.str().find("  refused: request to endpoint 'chat' of provider 'openai' names no "
                         "model") != std::string::npos);
  }
  SUBCASE("bad arguments exit 2") {
    args.url = "https://api.openai.com/v1/embeddings";
    args.data = "@/nonexistent/body.json";
    CHECK(rules::estimate_command(args, out, err) == 2);
    CHECK(err.str() == "estimate: cannot read '/nonexistent/body.json'\n");
  }
  SUBCASE("a malformed header exits 2") {
    args.url = "https://api.openai.com/v1/embeddings";
    args.headers = {"no-colon"};
    CHECK(rules::estimate_command(args, out, err) == 2);
    CHECK(err.str() == "estimate: a header must be 'Name: value', got 'no-colon'\n");
  }
}
