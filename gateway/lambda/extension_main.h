// Lambda extension mode for main.cc: when AWS_LAMBDA_RUNTIME_API is set the
// binary is an external extension (the file /opt/extensions/<name> of a
// layer) rather than a long-running gateway.
//
//   if (lambda::InExtensionMode(ProcessEnv())) return lambda::RunExtensionMain(argv[0], overrides, config_path);
//
// docs/lambda.md describes the mode.
#pragma once

#include <string>
#include <string_view>

#include "gateway/config/config.h"

namespace gateway::lambda {

bool InExtensionMode(const EnvLookup& env);

// malloc for a small sandbox: two arenas (not eight per core), and free
// heap above 1 MiB handed back. Before any thread starts.
void TuneAllocatorForSandbox();

// Reads the settings from the process environment, then runs the extension
// (ExtensionRunner) against the real Extensions API with libcurl. Returns the
// process's exit code. `config_path` (from --config) wins over
// GATEWAY_CONFIG_FILE; `flags` override both.
int RunExtensionMain(std::string_view argv0, const ConfigOverrides& flags, const std::string& config_path);

}  // namespace gateway::lambda
