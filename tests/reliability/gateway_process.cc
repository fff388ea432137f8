#include "tests/reliability/gateway_process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gateway::reliability {

std::string BinaryTestConfigYaml(const BinaryTestConfig& config) {
  const std::string max_connections =
      config.http_max_connections > 0 ? absl::StrCat(", max_connections: ", config.http_max_connections) : "";
  const std::string process_limit = config.process_memory_limit_mib > 0
                                        ? absl::StrCat("  process_memory_limit_mib: ", config.process_memory_limit_mib, "\n")
                                        : "";
  return absl::StrCat("receivers:\n"
                      "  grpc: {endpoint: 127.0.0.1:0}\n"
                      "  http: {endpoint: 127.0.0.1:0",
                      max_connections,
                      "}\n"
                      "admin: {endpoint: 127.0.0.1:0}\n"
                      "reparent: {hold_window: ",
                      config.hold_window,
                      ", shards: 2}\n"
                      "batch: {timeout: 20ms}\n"
                      "exporter:\n"
                      "  type: dynatrace\n"
                      "  dynatrace: {endpoint: \"",
                      config.dynatrace_url, "\", ", config.token,
                      "}\n"
                      "  timeout: 2s\n"
                      "  retry: {initial_interval: 20ms, max_interval: 200ms}\n"
                      "queue:\n",
                      process_limit,
                      "  persistent: {enabled: true, directory: \"",
                      config.queue_directory,
                      "\"}\n"
                      "shutdown: {drain_timeout: 2s}\n"
                      "log: {level: info}\n");
}

std::string GatewayProcess::Binary() {
  const char* env = std::getenv("GATEWAY_BINARY");
  return env != nullptr && *env != '\0' ? env : "gateway/otlp_gateway";
}

std::unique_ptr<GatewayProcess> GatewayProcess::Start(const std::string& binary, const std::string& config_path,
                                                      int max_open_files) {
  const std::string config_flag = "--config=" + config_path;
  testing::ChildProcessOptions options;
  options.argv = {binary, config_flag};
  if (max_open_files > 0) {
    // Through the shell, whose ulimit applies to what it then execs.
    options.argv = {"/bin/sh", "-c", absl::StrCat("ulimit -n ", max_open_files, " && exec \"$0\" \"$@\""), binary,
                    config_flag};
  }
  options.stderr_to = testing::ChildOutput::Pipe();
  absl::StatusOr<std::unique_ptr<testing::ChildProcess>> child = testing::ChildProcess::Start(options);
  if (!child.ok()) return nullptr;
  auto process = std::unique_ptr<GatewayProcess>(new GatewayProcess());
  process->process_ = *std::move(child);
  process->reader_ = std::thread([p = process.get(), fd = process->process_->output_pipe()] { p->ReadLog(fd); });
  return process;
}

GatewayProcess::~GatewayProcess() {
  // The reader sees EOF once the process is dead; process_ then closes the
  // pipe and reaps it.
  Signal(SIGKILL);
  if (reader_.joinable()) reader_.join();
}

bool GatewayProcess::WaitListening(absl::Time deadline, int* grpc_port, int* http_port) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return grpc_port_ > 0 || eof_; }, deadline);
  *grpc_port = grpc_port_;
  *http_port = http_port_;
  return grpc_port_ > 0 && http_port_ > 0;
}

int GatewayProcess::admin_port() const {
  MutexLock lock(&mu_);
  return admin_port_;
}

void GatewayProcess::Signal(int sig) { process_->Signal(sig); }

int GatewayProcess::WaitExit(absl::Time deadline) {
  {
    MutexLock lock(&mu_);
    mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return eof_; }, deadline);
    if (!eof_) return -1;
  }
  return process_->Wait(deadline).value_or(-1);
}

std::string GatewayProcess::Log() const {
  MutexLock lock(&mu_);
  return log_;
}

void GatewayProcess::ReadLog(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    MutexLock lock(&mu_);
    if (n <= 0) {
      eof_ = true;
      break;
    }
    log_.append(buf, static_cast<size_t>(n));
    if (grpc_port_ == 0) ParsePorts();
  }
}

void GatewayProcess::ParsePorts() {
  const size_t line = log_.find("\"msg\":\"listening\"");
  if (line == std::string::npos) return;
  const size_t end = log_.find('\n', line);
  if (end == std::string::npos) return;
  auto field = [&](const std::string& key) {
    const std::string needle = "\"" + key + "\":\"";
    const size_t at = log_.find(needle, line);
    int port = 0;
    if (at == std::string::npos || at > end) return 0;
    const size_t start = at + needle.size();
    const size_t stop = log_.find('"', start);
    if (!absl::SimpleAtoi(log_.substr(start, stop - start), &port)) return 0;
    return port;
  };
  http_port_ = field("http_port");
  admin_port_ = field("admin_port");
  grpc_port_ = field("grpc_port");
}

}  // namespace gateway::reliability
