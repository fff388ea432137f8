// The whole gateway as one object: receivers, pipeline, engine, exporter and
// admin endpoints wired from a GatewayConfig. main.cc only parses flags,
// loads the config and waits for a signal; tests start a GatewayApp on port 0.
//
//   GatewayAppDeps deps;                      // real clock, exporter from config
//   absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, deps);
//   int port = (*app)->http_port();
//   ...
//   (*app)->BeginDrain();                     // optional: /readyz 503, still accepting
//   (*app)->Shutdown();                       // drains within config.shutdown.drain_timeout
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "pipeline/base/clock.h"
#include "pipeline/export/exporter.h"
#include "pipeline/ingest/resident_memory.h"
#include "pipeline/base/metrics_registry.h"

namespace gateway {

struct GatewayAppDeps {
  // Time for the engine, exporter and admin pages; RealClock() when null.
  const Clock* clock = nullptr;
  // Replaces the exporter the config asks for (tests). Null: from config.
  std::unique_ptr<Exporter> exporter;
  // Where the debug exporter prints; stdout when null.
  FILE* debug_out = nullptr;
  // The process's resident memory for the memory guard (tests); /proc when
  // null. Must outlive the app.
  ResidentMemory* resident_memory = nullptr;
};

// What GatewayApp::Flush achieved by its deadline.
struct FlushResult {
  // Every span received before the flush was handed to the exporter.
  bool engine_flushed = false;
  // Bytes the exporter still holds (0: everything was delivered, rejected
  // or given up).
  int64_t undelivered_bytes = 0;
};

class GatewayApp {
 public:
  virtual ~GatewayApp() = default;

  // Bound ports (0 when that listener is disabled).
  virtual int grpc_port() const = 0;
  virtual int http_port() const = 0;
  virtual int admin_port() const = 0;

  virtual MetricsRegistry& metrics() = 0;

  // Turns /readyz to 503 ("draining") so that a load balancer or a
  // trace-affine resolver stops sending here, while the receivers keep
  // accepting and the engine keeps resolving as before. Shutdown() ends it.
  // Idempotent; any thread.
  virtual void BeginDrain() = 0;

  // Re-reads exporter.dynatrace.api_token_file (main.cc: on SIGHUP); the
  // exporter sends the new token from its next attempt on. When the file
  // cannot be read or is empty, the old token stays, one line is logged and
  // the error returned. OK and nothing done without a token file. Any thread.
  virtual absl::Status ReloadApiToken() = 0;

  // Reparents and delivers everything received so far: spans waiting for
  // their parent go out unchanged, partly filled batches and retries are
  // sent now; waits for delivery until `deadline` (wall clock). What is not
  // delivered by then stays queued for later and the next Flush. Receivers
  // keep accepting. Thread-safe. For the Lambda extension (gateway/lambda).
  virtual FlushResult Flush(absl::Time deadline) = 0;

  // Stop accepting (clients get UNAVAILABLE / 503), release every held span,
  // deliver what is queued until the drain timeout, then stop. Idempotent;
  // call from one thread.
  virtual void Shutdown() = 0;
};

// Validates `config`, starts everything, and replays the persistent queue
// when one is configured. Errors name what failed (a port in use, a TLS file).
absl::StatusOr<std::unique_ptr<GatewayApp>> StartGateway(const GatewayConfig& config, GatewayAppDeps deps);

}  // namespace gateway
