#pragma once
// `tollgate run`: the proxy with budget enforcement, the admin server, config reload and event
// delivery, wired together around one config snapshot.

#include <memory>
#include <string>

#include "rules/config.hpp"

namespace proxy {

// Serves until SIGTERM/SIGINT; returns the process exit code. Throws on a start-up failure.
int run_tollgate(std::shared_ptr<const rules::Config> config, const std::string& config_path);

}  // namespace proxy
