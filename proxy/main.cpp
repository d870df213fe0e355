// tollgate command line (DESIGN §3).
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"tollgate: a budget-enforcing forward proxy for paid APIs"};
  app.require_subcommand(0, 1);
  auto* version = app.add_subcommand("version", "print the version");
  CLI11_PARSE(app, argc, argv);
  if (version->parsed()) std::cout << "tollgate " << TOLLGATE_VERSION << "\n";
  return 0;
}
