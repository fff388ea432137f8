#include "gateway/gateway_app.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/admin/admin_handler.h"
#include "gateway/export_loop_guard.h"
#include "gateway/fate_store_setup.h"
#include "gateway/receivers/grpc_receiver.h"
#include "gateway/receivers/http_server.h"
#include "gateway/receivers/otlp_http_handler.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/export/debug_exporter.h"
#include "pipeline/gateway_pipeline.h"
#include "pipeline/base/logging.h"
#include "pipeline/ingest/memory_budget.h"
#include "pipeline/ingest/heap_trimmer.h"
#include "pipeline/ingest/memory_guard.h"
#include "pipeline/export/otlp_http_exporter.h"
#include "pipeline/export/persistent_queue.h"
#include "pipeline/export/replaceable_header.h"
#include "pipeline/reparent/sharded_trace_engine.h"
#include "pipeline/base/status_macros.h"
#include "pipeline/reparent/trace_batcher.h"
#include "pipeline/metrics/cumulative_to_delta.h"

namespace gateway {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// Bookkeeping per held span: its SpanRef in a swiss table plus its place in
// the waiting map, the map of held spans by key and the arrival-order deque,
// 307..598 bytes depending on the tables' load (TraceResolver::HeldBytes,
// measured from 1 k to 70 k held; 432 at 20 k); its request is counted by the
// MemoryBudget. The upper end, with margin.
constexpr int64_t kBytesPerHeldSpan = 640;

// Bound on the process when queue.process_memory_limit_mib is 0 and no
// container limit is found: what a sidecar can afford.
constexpr int64_t kDefaultProcessLimitMiB = 256;

// queue.process_memory_limit_mib in bytes: 0 asks for 80% of the container's
// limit, kDefaultProcessLimitMiB when there is none; -1: no bound (0).
int64_t ProcessMemoryLimitBytes(int64_t configured_mib) {
  if (configured_mib > 0) return configured_mib * kMiB;
  if (configured_mib < 0) return 0;
  absl::StatusOr<int64_t> container = ContainerMemoryLimit("/sys/fs/cgroup", "/proc/self/cgroup");
  if (container.ok()) return *container / 5 * 4;
  if (!absl::IsNotFound(container.status())) {
    LogWarn("container_memory_limit_unreadable", {{"error", std::string(container.status().message())}});
  }
  LogInfo("process_memory_limit_default", {{"process_memory_limit_bytes", absl::StrCat(kDefaultProcessLimitMiB * kMiB)},
                                           {"reason", "no container memory limit; set queue.process_memory_limit_mib "
                                                      "to change it, -1 for none"}});
  return kDefaultProcessLimitMiB * kMiB;
}

// The telemetry budget within a process bound: an admitted byte is held up
// to about three times on its way out (the request, its encoded export body,
// the compressed body), and the rest of the bound goes to the reparenting
// tables, the process itself and the allocator's slack, so telemetry gets an
// eighth of the bound at most.
int64_t TelemetryBudgetBytes(int64_t configured_bytes, int64_t process_limit_bytes) {
  if (process_limit_bytes <= 0 || configured_bytes <= process_limit_bytes / 8) return configured_bytes;
  const int64_t fitted = std::max<int64_t>(kMiB, process_limit_bytes / 8);
  LogInfo("telemetry_budget_fitted_to_memory", {{"memory_limit_bytes", absl::StrCat(configured_bytes)},
                                                 {"process_memory_limit_bytes", absl::StrCat(process_limit_bytes)},
                                                 {"fitted_bytes", absl::StrCat(fitted)}});
  return fitted;
}

// The reparenting engine's tables of remembered fates may allocate at most a
// quarter of the process bound (reparent.max_table_bytes, exact: the
// resolver forgets its oldest generation rather than grow past it); held
// spans' bookkeeping an eighth, by lowering max_held_spans, never raising it.
ReparentOptions FitReparentTables(ReparentOptions options, int64_t process_limit_bytes) {
  if (process_limit_bytes <= 0) return options;
  const int64_t table_bytes = std::max<int64_t>(1, process_limit_bytes / 4);
  options.max_table_bytes =
      options.max_table_bytes > 0 ? std::min(options.max_table_bytes, table_bytes) : table_bytes;
  const int64_t max_held = std::max<int64_t>(1, process_limit_bytes / 8 / kBytesPerHeldSpan);
  if (options.max_held_spans > max_held) {
    LogInfo("reparent_tables_fitted_to_memory", {{"process_memory_limit_bytes", absl::StrCat(process_limit_bytes)},
                                                 {"max_table_bytes", absl::StrCat(options.max_table_bytes)},
                                                 {"max_held_spans", absl::StrCat(max_held)}});
    options.max_held_spans = max_held;
  }
  return options;
}

OtlpHttpExporterOptions ExporterOptionsFrom(const GatewayConfig& config, ExporterType type,
                                            const std::string& api_token) {
  const ExporterConfig& ec = config.exporter;
  OtlpHttpExporterOptions options;
  if (type == ExporterType::kDynatrace) {
    options = ForDynatrace(ec.dynatrace.endpoint, api_token);
  } else {
    options.endpoint = ec.otlphttp.endpoint;
    for (const auto& [name, value] : ec.otlphttp.headers) options.headers.emplace_back(name, value);
  }
  options.gzip = ec.compression == Compression::kGzip;
  options.ca_file = ec.ca_file;
  options.request_timeout = ec.timeout;
  options.max_concurrent_requests = ec.max_in_flight;
  options.retry.initial_backoff = ec.retry.initial_interval;
  options.retry.max_backoff = ec.retry.max_interval;
  options.retry.max_item_age = ec.retry.max_elapsed;
  options.max_request_bytes[static_cast<int>(Signal::kTraces)] = ec.limits.traces.max_request_bytes;
  options.max_request_bytes[static_cast<int>(Signal::kMetrics)] = ec.limits.metrics.max_request_bytes;
  options.max_request_bytes[static_cast<int>(Signal::kLogs)] = ec.limits.logs.max_request_bytes;
  return options;
}

class GatewayAppImpl final : public GatewayApp {
 public:
  GatewayAppImpl(const GatewayConfig& config, const Clock& clock) : config_(config), clock_(clock) {}

  ~GatewayAppImpl() override { Shutdown(); }

  absl::Status Start(GatewayAppDeps deps) {
    const int64_t process_limit = ProcessMemoryLimitBytes(config_.queue.process_memory_limit_mib);
    budget_ = std::make_unique<MemoryBudget>(TelemetryBudgetBytes(config_.queue.memory_limit_mib << 20, process_limit));
    if (deps.resident_memory == nullptr) {
      own_resident_memory_ = NewProcResidentMemory();
      deps.resident_memory = own_resident_memory_.get();
    }
    if (process_limit > 0) {
      MemoryGuardOptions guard;
      guard.limit_bytes = process_limit;
      memory_guard_ = std::make_unique<MemoryGuard>(guard, *deps.resident_memory, *budget_, registry_);
    }
    heap_trimmer_ = std::make_unique<HeapTrimmer>(HeapTrimmerOptions{}, *deps.resident_memory, registry_);

    const ExporterType type = ResolveExporterType(config_);
    if (deps.exporter != nullptr) {
      exporter_ = std::move(deps.exporter);
    } else if (type == ExporterType::kDebug) {
      exporter_ = NewDebugExporter(deps.debug_out != nullptr ? deps.debug_out : stdout);
    } else {
      std::string token = config_.exporter.dynatrace.api_token;
      const bool token_from_file = type == ExporterType::kDynatrace && !config_.exporter.dynatrace.api_token_file.empty();
      if (token_from_file) {
        absl::StatusOr<std::string> read = ReadSecretFile(config_.exporter.dynatrace.api_token_file);
        if (!read.ok()) {
          return absl::Status(read.status().code(),
                              absl::StrCat("exporter.dynatrace.api_token_file: ", read.status().message()));
        }
        token = *std::move(read);
      }
      OtlpHttpExporterOptions exporter_options = ExporterOptionsFrom(config_, type, token);
      if (token_from_file) {
        // The static header ForDynatrace set stays for the redactor; the
        // transport sends this one instead, replaced by ReloadApiToken.
        api_token_ = std::make_shared<ReplaceableHeader>("Authorization", absl::StrCat("Api-Token ", token));
        exporter_options.replaceable_header = api_token_;
      }
      if (config_.http.enabled) {
        GATEWAY_RETURN_IF_ERROR(CheckExportTarget(exporter_options.endpoint, config_.http.endpoint));
      }
      exporter_options.headers.emplace_back(kGatewayInstanceHeader, loop_guard_.instance_id);
      exporter_ = NewOtlpHttpExporter(exporter_options, registry_, clock_);
    }

    TraceBatcherOptions batch;
    batch.max_spans = config_.batch.max_spans;
    batch.max_bytes = static_cast<size_t>(config_.batch.max_bytes);
    batch.max_delay = config_.batch.timeout;
    GATEWAY_ASSIGN_OR_RETURN(fate_store_, StartFateStore(config_.fate_store, registry_, clock_));
    engine_ = NewShardedTraceEngine(FitReparentTables(config_.reparent, process_limit), batch, *exporter_,
                                    budget_.get(), registry_, clock_, fate_store_.get());
    if (config_.queue.persistent.enabled) {
      GATEWAY_ASSIGN_OR_RETURN(wal_, OpenPersistentQueue(config_.queue.persistent.directory,
                                                         config_.queue.persistent.max_size_mib << 20));
      registry_.AddGauge("gateway_persistent_queue_bytes", "Bytes in the persistent queue's files", {},
                         [wal = wal_.get()] { return static_cast<double>(wal->UsedBytes()); });
      registry_.AddGauge("gateway_persistent_queue_requests", "Requests in the persistent queue not yet delivered",
                         {}, [wal = wal_.get()] { return static_cast<double>(wal->PendingRecords()); });
      registry_.AddGauge("gateway_persistent_queue_healthy",
                         "1 while the persistent queue can make requests durable, 0 after a failed write or "
                         "fdatasync until one succeeds again",
                         {}, [wal = wal_.get()] { return wal->Healthy() ? 1.0 : 0.0; });
      registry_.AddGauge("gateway_persistent_queue_io_failures", "Failed writes and fdatasyncs since start",
                         {{"call", "write"}}, [wal = wal_.get()] { return static_cast<double>(wal->WriteFailures()); });
      registry_.AddGauge("gateway_persistent_queue_io_failures", "Failed writes and fdatasyncs since start",
                         {{"call", "fdatasync"}}, [wal = wal_.get()] { return static_cast<double>(wal->SyncFailures()); });
      registry_.AddGauge("gateway_persistent_queue_compacted_bytes",
                         "Bytes of pending requests copied forward to free mostly acknowledged segments", {},
                         [wal = wal_.get()] { return static_cast<double>(wal->CompactedBytes()); });
      registry_.AddGauge("gateway_persistent_queue_corrupt_records", "Corrupt records skipped when the queue was opened",
                         {}, [wal = wal_.get()] { return static_cast<double>(wal->CorruptRecordsSkipped()); });
      registry_.AddGauge("gateway_persistent_queue_torn_bytes", "Torn tail bytes cut off when the queue was opened",
                         {}, [wal = wal_.get()] { return static_cast<double>(wal->TornBytesTruncated()); });
    }
    // Metrics fitted to the backend (cumulative -> delta, Dynatrace's limits):
    // by default only when exporting to Dynatrace. docs/metrics.md.
    const MetricsOptions metrics =
        ResolveMetricsOptions(config_.metrics, type == ExporterType::kDynatrace, process_limit);
    if (metrics.Active()) metrics_transform_ = NewMetricsTransform(metrics, clock_, registry_);
    pipeline_ = std::make_unique<GatewayPipeline>(*engine_, *exporter_, *budget_, registry_, wal_.get(),
                                                  metrics_transform_.get());
    // What an earlier run accepted and did not deliver goes first.
    GATEWAY_RETURN_IF_ERROR(pipeline_->ReplayPersistentQueue().status());
    if (memory_guard_) memory_guard_->Start();
    heap_trimmer_->Start();

    if (config_.grpc.enabled) {
      GrpcReceiverOptions options;
      options.listen_address = config_.grpc.endpoint;
      options.max_recv_message_bytes = config_.grpc.max_recv_msg_size_mib << 20;
      options.tls_cert_path = config_.grpc.tls.cert_file;
      options.tls_key_path = config_.grpc.tls.key_file;
      options.bearer_token = config_.grpc.auth.bearer_token;
      options.admission_wait.max_wait = config_.queue.admission_wait;
      // The waiting bodies are memory the budget does not count.
      options.admission_wait.max_waiting_bytes = budget_->Limit() / 4;
      GATEWAY_ASSIGN_OR_RETURN(grpc_, StartGrpcReceiver(options, *pipeline_, registry_));
      registry_.AddGauge("gateway_grpc_accept_failures",
                         "Accepts of plaintext gRPC connections that failed (e.g. out of file descriptors)", {},
                         [grpc = grpc_.get()] { return static_cast<double>(grpc->AcceptFailures()); });
      registry_.AddGauge("gateway_admission_waiting_requests",
                         "Requests waiting for room in the memory budget (queue.admission_wait), by transport",
                         {{"transport", "grpc"}},
                         [grpc = grpc_.get()] { return static_cast<double>(grpc->WaitingForRoom()); });
    }
    if (config_.http.enabled) {
      OtlpHttpHandlerOptions handler_options;
      handler_options.max_decompressed_bytes = size_t(config_.http.max_request_body_mib) << 20;
      handler_options.cors_allowed_origins = config_.http.cors_allowed_origins;
      handler_options.bearer_token = config_.http.auth.bearer_token;
      handler_options.own_instance_id = loop_guard_.instance_id;
      handler_options.admission_wait = config_.queue.admission_wait;
      otlp_http_handler_ = std::make_unique<OtlpHttpHandler>(handler_options, *pipeline_, registry_);
      HttpServerOptions options;
      options.listen_address = config_.http.endpoint;
      options.thread_name = "http";
      options.threads = config_.http.threads;
      options.max_body_bytes = size_t(config_.http.max_request_body_mib) << 20;
      options.max_connections = config_.http.max_connections;
      options.min_body_bytes_per_second = config_.http.min_body_bytes_per_second;
      options.tls_cert_path = config_.http.tls.cert_file;
      options.tls_key_path = config_.http.tls.key_file;
      GATEWAY_ASSIGN_OR_RETURN(http_, StartHttpServer(options, *otlp_http_handler_));
      registry_.AddGauge("gateway_http_connections_refused", "Connections closed at once for the connection cap",
                         {}, [http = http_.get()] { return static_cast<double>(http->RefusedConnections()); });
      registry_.AddGauge("gateway_http_accept_failures", "Accepts that failed (e.g. out of file descriptors)", {},
                         [http = http_.get()] { return static_cast<double>(http->AcceptFailures()); });
      registry_.AddGauge("gateway_http_bodies_too_slow",
                         "Connections closed for a body slower than min_body_bytes_per_second", {},
                         [http = http_.get()] { return static_cast<double>(http->SlowBodies()); });
      registry_.AddGauge("gateway_admission_waiting_requests",
                         "Requests waiting for room in the memory budget (queue.admission_wait), by transport",
                         {{"transport", "http"}},
                         [http = http_.get()] { return static_cast<double>(http->WaitingForRoom()); });
    }

    AdminProbes probes;
    probes.live = [] { return true; };
    probes.ready = [this] {
      Readiness r;
      if (shut_down_.load()) {
        r.ready = false;
        r.reason = "shutting down";
      } else if (draining_.load()) {
        r.ready = false;
        r.reason = "draining";
      } else if (!exporter_->Healthy()) {
        r.ready = false;
        r.reason = exporter_->HealthDetail();
        if (r.reason.empty()) r.reason = "exporter has not delivered for a while";
      } else if (!pipeline_->Ready()) {
        r.ready = false;
        r.reason = wal_ != nullptr && !wal_->Healthy()
                       ? "persistent queue cannot make requests durable (a write or fdatasync failed)"
                   : budget_->UnderPressure() ? "process memory limit reached (backpressure)"
                                              : "memory limit reached (backpressure)";
      }
      return r;
    };
    probes.recent_decisions = [this] {
      std::vector<DecisionRow> rows;
      std::vector<ReparentDecision> decisions = engine_->RecentDecisions();
      for (auto it = decisions.rbegin(); it != decisions.rend(); ++it) {
        rows.push_back({it->time, it->original_trace.Hex(), it->new_trace.Hex(), it->span.Hex(), it->name});
      }
      return rows;
    };
    probes.throughput = [this] {
      ThroughputTotals t;
      t.spans_received = registry_.CounterValue("gateway_items_accepted_total", {{"signal", "traces"}});
      t.spans_reparented = registry_.CounterValue("gateway_spans_reparented_total");
      t.spans_exported = registry_.CounterValue("gateway_exported_items_total", {{"signal", "traces"}});
      return t;
    };
    if (fate_store_ != nullptr) {
      probes.fate_store = [client = fate_store_.get()] { return FateStoreStatusRows(*client); };
    }
    admin_handler_ = std::make_unique<AdminHandler>(registry_, clock_, RenderEffectiveConfig(config_),
                                                    std::move(probes), ConfigSecrets(config_),
                                                    config_.admin.status_token);
    HttpServerOptions admin;
    admin.listen_address = config_.admin.endpoint;
    admin.thread_name = "admin";
    admin.threads = 1;
    admin.max_body_bytes = 64 << 10;
    GATEWAY_ASSIGN_OR_RETURN(admin_, StartHttpServer(admin, *admin_handler_));

    LogInfo("listening", {{"grpc_port", absl::StrCat(grpc_port())},
                          {"http_port", absl::StrCat(http_port())},
                          {"admin_port", absl::StrCat(admin_port())},
                          {"exporter", std::string(ExporterTypeName(type))},
                          {"metrics_cumulative_to_delta", metrics.cumulative_to_delta ? "true" : "false"},
                          {"process_memory_limit_bytes", absl::StrCat(process_limit)}});
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_ ? grpc_->port() : 0; }
  int http_port() const override { return http_ ? http_->port() : 0; }
  int admin_port() const override { return admin_ ? admin_->port() : 0; }
  MetricsRegistry& metrics() override { return registry_; }

  FlushResult Flush(absl::Time deadline) override {
    FlushResult result;
    result.engine_flushed = engine_->Flush(deadline);
    // The fates the engine decided, for the next function's extension.
    if (fate_store_) fate_store_->Flush(deadline);
    result.undelivered_bytes = exporter_->Flush(deadline);
    return result;
  }

  absl::Status ReloadApiToken() override {
    if (api_token_ == nullptr) return absl::OkStatus();
    const std::string& path = config_.exporter.dynatrace.api_token_file;
    absl::StatusOr<std::string> token = ReadSecretFile(path);
    if (!token.ok()) {
      LogWarn("api_token_reload_failed", {{"file", path}, {"error", std::string(token.status().message())}});
      return token.status();
    }
    api_token_->Replace(absl::StrCat("Api-Token ", *token));
    LogInfo("api_token_reloaded", {{"file", path}});
    return absl::OkStatus();
  }

  void BeginDrain() override {
    if (draining_.exchange(true)) return;
    LogInfo("drain_started", {});
  }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    const absl::Time deadline = absl::Now() + config_.shutdown.drain_timeout;
    LogInfo("shutdown_started", {{"drain_timeout", absl::FormatDuration(config_.shutdown.drain_timeout)}});
    // Order: refuse new work, let requests in flight finish, release what the
    // engine holds into the exporter, then deliver until the deadline.
    if (pipeline_) pipeline_->BeginShutdown();
    if (grpc_) grpc_->Shutdown(absl::Now() + absl::Seconds(5));
    if (http_) http_->Shutdown();
    if (engine_) engine_->Shutdown();
    // After the engine: the fates it decided last are published.
    if (fate_store_) fate_store_->Shutdown();
    if (exporter_) {
      // Deliver until the deadline; what is still undelivered then stays in
      // the persistent queue (if any) for the next run, and is given up.
      while (exporter_->QueuedBytes() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
      if (pipeline_) pipeline_->AbandonUnfinished();
      if (absl::Status s = exporter_->Shutdown(absl::Now()); !s.ok()) {
        LogWarn("exporter_shutdown", {{"error", std::string(s.message())}});
      }
    }
    if (admin_) admin_->Shutdown();
    if (memory_guard_) memory_guard_->Stop();
    if (heap_trimmer_) heap_trimmer_->Stop();
    LogInfo("shutdown_complete", {{"in_flight_bytes", absl::StrCat(budget_ ? budget_->InFlight() : 0)}});
  }

 private:
  const GatewayConfig config_;
  const Clock& clock_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  // Destroyed in reverse: servers first, then handlers, pipeline, engine, exporter.
  MetricsRegistry registry_;
  std::unique_ptr<MemoryBudget> budget_;
  std::unique_ptr<ResidentMemory> own_resident_memory_;
  std::unique_ptr<MemoryGuard> memory_guard_;
  std::unique_ptr<HeapTrimmer> heap_trimmer_;
  std::unique_ptr<PersistentQueue> wal_;
  const ExportLoopGuard loop_guard_ = NewExportLoopGuard();
  // The Dynatrace token when it comes from exporter.dynatrace.api_token_file.
  std::shared_ptr<ReplaceableHeader> api_token_;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<FateStoreClient> fate_store_;
  std::unique_ptr<TraceEngine> engine_;
  std::unique_ptr<MetricsTransform> metrics_transform_;
  std::unique_ptr<GatewayPipeline> pipeline_;
  std::unique_ptr<OtlpHttpHandler> otlp_http_handler_;
  std::unique_ptr<AdminHandler> admin_handler_;
  std::unique_ptr<GrpcReceiver> grpc_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpServer> admin_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayApp>> StartGateway(const GatewayConfig& config, GatewayAppDeps deps) {
  GATEWAY_RETURN_IF_ERROR(ValidateConfig(config));
  const Clock& clock = deps.clock != nullptr ? *deps.clock : RealClock();
  auto app = std::make_unique<GatewayAppImpl>(config, clock);
  GATEWAY_RETURN_IF_ERROR(app->Start(std::move(deps)));
  return app;
}

}  // namespace gateway
