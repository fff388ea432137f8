// The gateway binary (//gateway:otlp_gateway, path in $GATEWAY_BINARY) as a
// child process; a thread reads its stderr (JSON log lines) and picks the
// listening ports out of its "listening" line.
//
//   std::unique_ptr<GatewayProcess> gw = GatewayProcess::Start(GatewayProcess::Binary(), config_path);
//   int grpc_port, http_port;
//   ASSERT_TRUE(gw->WaitListening(absl::Now() + absl::Seconds(30), &grpc_port, &http_port));
//   int admin = gw->admin_port();
//   gw->Signal(SIGKILL);
//   int status = gw->WaitExit(absl::Now() + absl::Seconds(10));
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/child_process.h"

namespace gateway::reliability {

// What the binary tests vary in the gateway's YAML configuration; the rest
// is fixed: receivers and admin on 127.0.0.1:0, 2 shards, 20 ms batches,
// fast retries, the persistent queue on, info logs.
struct BinaryTestConfig {
  std::string dynatrace_url;
  // The exporter.dynatrace key holding the token, as YAML.
  std::string token = "api_token: test-token";
  std::string queue_directory;
  std::string hold_window = "100ms";
  // receivers.http.max_connections and queue.process_memory_limit_mib when
  // positive; the gateway's defaults otherwise.
  int http_max_connections = 0;
  int process_memory_limit_mib = 0;
};
std::string BinaryTestConfigYaml(const BinaryTestConfig& config);

class GatewayProcess {
 public:
  // $GATEWAY_BINARY, else gateway/otlp_gateway.
  static std::string Binary();

  // Null if the process could not be spawned. A positive `max_open_files`
  // starts it under that RLIMIT_NOFILE, soft and hard (`ulimit -n`).
  static std::unique_ptr<GatewayProcess> Start(const std::string& binary, const std::string& config_path,
                                               int max_open_files = 0);
  // SIGKILL if still running.
  ~GatewayProcess();

  // Ports from the "listening" line; false if it did not come in time.
  bool WaitListening(absl::Time deadline, int* grpc_port, int* http_port);
  // The admin port from the "listening" line (0 before it).
  int admin_port() const;

  void Signal(int sig);
  pid_t pid() const { return process_->pid(); }

  // Waits for the process to exit and close its stderr (all of its log
  // read). Returns the wait status, or -1 on timeout.
  int WaitExit(absl::Time deadline);

  std::string Log() const;

 private:
  GatewayProcess() = default;
  void ReadLog(int fd);
  void ParsePorts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<testing::ChildProcess> process_;
  std::thread reader_;
  mutable Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  int grpc_port_ ABSL_GUARDED_BY(mu_) = 0;
  int http_port_ ABSL_GUARDED_BY(mu_) = 0;
  int admin_port_ ABSL_GUARDED_BY(mu_) = 0;
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gateway::reliability
