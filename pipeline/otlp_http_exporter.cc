#include "pipeline/otlp_http_exporter.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/absl_compat.h"
#include "pipeline/gzip.h"
#include "pipeline/logging.h"
#include "pipeline/otlp_wire.h"
#include "pipeline/sync.h"

namespace gateway {
namespace {

constexpr size_t kMaxResponseBodyBytes = 64 * 1024;
constexpr absl::Duration kIdlePoll = absl::Seconds(1);
// While retries or a shutdown deadline are pending, the loop re-reads the
// (possibly simulated) clock at least this often.
constexpr absl::Duration kTimerPoll = absl::Milliseconds(20);

constexpr const char* kFailureReasons[] = {"network", "timeout",  "http_408",  "http_429",
                                           "http_413", "http_4xx", "http_5xx", "http_other"};
constexpr const char* kRejectReasons[] = {"http_413", "http_4xx", "http_5xx", "http_other",
                                          "partial_success"};
constexpr const char* kGiveUpReasons[] = {"max_age", "shutdown"};

void GlobalInitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsRetryableStatus(long status) {
  return status == 408 || status == 429 || status == 502 || status == 503 || status == 504;
}

std::string FailureReason(long status) {
  if (status == 408) return "http_408";
  if (status == 429) return "http_429";
  if (status == 413) return "http_413";
  if (status >= 400 && status < 500) return "http_4xx";
  if (status >= 500 && status < 600) return "http_5xx";
  return "http_other";
}

// Items rejected as reported by an Export*ServiceResponse's partial_success;
// -1 when the body does not parse.
int64_t PartialSuccessRejected(Signal signal, const std::string& body, std::string* message) {
  namespace coltrace = opentelemetry::proto::collector::trace::v1;
  namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
  namespace collogs = opentelemetry::proto::collector::logs::v1;
  switch (signal) {
    case Signal::kTraces: {
      coltrace::ExportTraceServiceResponse response;
      if (!response.ParseFromString(body)) return -1;
      *message = response.partial_success().error_message();
      return response.partial_success().rejected_spans();
    }
    case Signal::kMetrics: {
      colmetrics::ExportMetricsServiceResponse response;
      if (!response.ParseFromString(body)) return -1;
      *message = response.partial_success().error_message();
      return response.partial_success().rejected_data_points();
    }
    case Signal::kLogs: {
      collogs::ExportLogsServiceResponse response;
      if (!response.ParseFromString(body)) return -1;
      *message = response.partial_success().error_message();
      return response.partial_success().rejected_log_records();
    }
  }
  return -1;
}

// Everything the exporter counts for one signal, registered at construction.
struct SignalMetrics {
  Counter* delivered_requests = nullptr;
  Counter* rejected_requests = nullptr;
  Counter* given_up_requests = nullptr;
  Counter* exported_items = nullptr;
  Counter* retries = nullptr;
  std::map<std::string, Counter*> failures;
  std::map<std::string, Counter*> rejected_items;
  std::map<std::string, Counter*> given_up_items;
};

// Gauges read from the admin thread; shared so a gauge outliving the exporter
// stays valid.
struct SharedGauges {
  std::atomic<int64_t> queued_bytes{0};
  std::atomic<int64_t> queued_requests{0};
};

// One ExportRequest handed to Export, possibly sent as several parts.
struct Batch {
  ExportRequest request;
  int64_t bytes = 0;
  absl::Time age_base;
  int pending_parts = 0;
  bool any_given_up = false;
  bool any_rejected = false;
  int64_t rejected_items = 0;
};

// One HTTP request body (a whole batch or a part of it) and its retry state.
struct Part {
  std::shared_ptr<Batch> batch;
  std::string body;  // uncompressed, until `wire` is made from it
  std::string wire;  // as sent; empty until the first attempt
  int64_t items = 0;
  int attempts = 0;
  // Retry-After of the last answer: no attempt before this.
  absl::Time not_before = absl::InfinitePast();
};

// A Part on the wire.
struct Transfer {
  std::unique_ptr<Part> part;
  CURL* easy = nullptr;
  std::string response_body;
  std::string retry_after;
  char error[CURL_ERROR_SIZE] = {0};
};

size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const size_t room = kMaxResponseBodyBytes - std::min(kMaxResponseBodyBytes, transfer->response_body.size());
  transfer->response_body.append(data, std::min(n, room));
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    transfer->retry_after.clear();  // a new response (e.g. after 100 Continue)
    return n;
  }
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower = absl::AsciiStrToLower(ToAbsl(line.substr(0, kName.size())));
    if (lower == kName) {
      transfer->retry_after =
          std::string(absl::StripAsciiWhitespace(ToAbsl(line.substr(kName.size()))));
    }
  }
  return n;
}

class OtlpHttpExporter final : public Exporter {
 public:
  OtlpHttpExporter(const OtlpHttpExporterOptions& options, MetricsRegistry& registry, const Clock& clock)
      : options_(options), clock_(clock), rng_(options.random_seed), gauges_(std::make_shared<SharedGauges>()) {
    GlobalInitCurl();
    if (!options_.splitter) options_.splitter = &SplitExportRequest;
    if (!options_.count_items) options_.count_items = &CountItems;
    for (int i = 0; i < kSignalCount; ++i) {
      const Signal signal = static_cast<Signal>(i);
      urls_[i] = ExportUrl(options_, signal);
      curl_slist* list = nullptr;
      list = curl_slist_append(list, "Content-Type: application/x-protobuf");
      if (options_.gzip) list = curl_slist_append(list, "Content-Encoding: gzip");
      // Large POSTs would otherwise wait for "100 Continue".
      list = curl_slist_append(list, "Expect:");
      for (const auto& [name, value] : options_.headers) {
        list = curl_slist_append(list, absl::StrCat(name, ": ", value).c_str());
      }
      headers_[i] = list;
      RegisterMetrics(registry, signal, &metrics_[i]);
    }
    std::shared_ptr<SharedGauges> gauges = gauges_;
    registry.AddGauge("gateway_export_queue_bytes", "Bytes accepted by the exporter and not yet done", {},
                      [gauges] { return static_cast<double>(gauges->queued_bytes.load()); });
    registry.AddGauge("gateway_export_queue_requests", "Requests accepted by the exporter and not yet done",
                      {}, [gauges] { return static_cast<double>(gauges->queued_requests.load()); });
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max(1, options_.max_concurrent_requests)));
    thread_ = std::thread([this] { Run(); });
  }

  ~OtlpHttpExporter() override {
    Shutdown(clock_.Now()).IgnoreError();
    for (CURL* easy : free_handles_) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi_);
    for (curl_slist* list : headers_) curl_slist_free_all(list);
  }

  void Export(ExportRequest request) override {
    const int64_t bytes = static_cast<int64_t>(request.body.size());
    // Compress here, on the caller's thread (engine workers, receiver
    // threads), so that gzip spreads over every core instead of serializing
    // on the one thread that drives libcurl. Only bodies that go out whole;
    // split parts are compressed when they are first sent.
    Incoming in;
    const int s = static_cast<int>(request.signal);
    const int64_t max_items = request.signal == Signal::kMetrics ? options_.max_metric_data_points : 0;
    in.needs_split =
        request.body.size() > options_.max_request_bytes[s] || (max_items > 0 && request.items > max_items);
    if (options_.gzip && !in.needs_split) in.wire = GzipCompressFast(request.body);
    in.request = std::move(request);
    {
      MutexLock lock(&mu_);
      if (!stopped_ && !shutdown_requested_) {
        gauges_->queued_bytes.fetch_add(bytes);
        gauges_->queued_requests.fetch_add(1);
        incoming_.push_back(std::move(in));
        curl_multi_wakeup(multi_);
        return;
      }
    }
    // Refused after Shutdown: given up on the caller's thread.
    SignalMetrics& m = metrics_[s];
    m.given_up_requests->Add();
    m.given_up_items.at("shutdown")->Add(in.request.items);
    if (in.request.on_done) in.request.on_done(ExportResult{ExportOutcome::kGivenUp, 0});
  }

  int64_t QueuedBytes() const override { return gauges_->queued_bytes.load(); }

  int64_t Flush(absl::Time deadline) override {
    // Raised first: a retry the exporter thread schedules after it has seen
    // this flush uses the flush's short interval; one scheduled before is
    // pulled forward when it sees the flush. Finish() takes mu_ while a flush
    // waits, so that this wakes up when the queue empties (Mutex::Unlock
    // wakes waiters); a Finish that empties it either sees the waiter or
    // happened before the first look at the queue.
    flush_waiters_.fetch_add(1);
    {
      MutexLock lock(&mu_);
      ++flush_requests_;
    }
    curl_multi_wakeup(multi_);
    {
      MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(
          [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return gauges_->queued_bytes.load() == 0 || stopped_; },
          deadline);
    }
    flush_waiters_.fetch_sub(1);
    return gauges_->queued_bytes.load();
  }

  bool Healthy() const override {
    const int64_t since = failing_since_ns_.load();
    if (since == kNotFailing) return true;
    return clock_.Now() - absl::FromUnixNanos(since) < options_.unhealthy_after;
  }

  absl::Status Shutdown(absl::Time deadline) override {
    {
      MutexLock lock(&mu_);
      if (!shutdown_requested_) {
        shutdown_requested_ = true;
        deadline_ = deadline;
      }
    }
    curl_multi_wakeup(multi_);
    std::lock_guard<std::mutex> join_lock(join_mu_);
    if (thread_.joinable()) thread_.join();
    return absl::OkStatus();
  }

 private:
  static constexpr int64_t kNotFailing = std::numeric_limits<int64_t>::min();

  static void RegisterMetrics(MetricsRegistry& registry, Signal signal, SignalMetrics* m) {
    const std::string name(SignalName(signal));
    auto requests = [&](const char* outcome) {
      return registry.GetCounter("gateway_export_requests_total", "HTTP export requests by final outcome",
                                 {{"signal", name}, {"outcome", outcome}});
    };
    m->delivered_requests = requests("delivered");
    m->rejected_requests = requests("rejected");
    m->given_up_requests = requests("given_up");
    m->exported_items = registry.GetCounter("gateway_exported_items_total",
                                            "Spans, data points or log records accepted by the target",
                                            {{"signal", name}});
    m->retries = registry.GetCounter("gateway_export_retries_total", "Export attempts that were retries",
                                     {{"signal", name}});
    for (const char* reason : kFailureReasons) {
      m->failures[reason] = registry.GetCounter("gateway_export_failures_total", "Failed export attempts",
                                                {{"signal", name}, {"reason", reason}});
    }
    for (const char* reason : kRejectReasons) {
      m->rejected_items[reason] =
          registry.GetCounter("gateway_export_rejected_items_total", "Items the target refused",
                              {{"signal", name}, {"reason", reason}});
    }
    for (const char* reason : kGiveUpReasons) {
      m->given_up_items[reason] =
          registry.GetCounter("gateway_export_given_up_items_total", "Items dropped after retries stopped",
                              {{"signal", name}, {"reason", reason}});
    }
  }

  // ---- exporter thread ----

  void Run() {
    while (true) {
      TakeIncoming();
      const absl::Time now = clock_.Now();
      bool shutting_down;
      absl::Time deadline;
      bool flush;
      {
        MutexLock lock(&mu_);
        shutting_down = shutdown_requested_;
        deadline = deadline_;
        flush = flush_requests_ != flush_requests_seen_;
        flush_requests_seen_ = flush_requests_;
      }
      if (flush) {
        // A flush sends waiting retries now rather than after their backoff,
        // except those the target asked to wait (Retry-After).
        for (auto it = retry_.begin(); it != retry_.end();) {
          if (it->second->not_before > now) {
            ++it;
            continue;
          }
          ready_.push_back(std::move(it->second));
          it = retry_.erase(it);
        }
      }
      if (shutting_down && (now >= deadline || (ready_.empty() && retry_.empty() && transfers_.empty()))) {
        break;
      }
      while (!retry_.empty() && retry_.begin()->first <= now) {
        ready_.push_back(std::move(retry_.begin()->second));
        retry_.erase(retry_.begin());
      }
      StartTransfers();
      int running = 0;
      curl_multi_perform(multi_, &running);
      ProcessCompleted(shutting_down, deadline);

      absl::Duration wait = kIdlePoll;
      if (!retry_.empty()) wait = std::min(wait, std::max(absl::ZeroDuration(), retry_.begin()->first - now));
      if (!retry_.empty() || shutting_down) wait = std::min(wait, kTimerPoll);
      if (!ready_.empty() && static_cast<int>(transfers_.size()) < options_.max_concurrent_requests) {
        wait = absl::ZeroDuration();
      }
      curl_multi_poll(multi_, nullptr, 0, static_cast<int>(absl::ToInt64Milliseconds(wait)), nullptr);
    }
    // Stopped: give up everything left, including requests racing in.
    {
      MutexLock lock(&mu_);
      stopped_ = true;
    }
    TakeIncoming();
    for (auto& [easy, transfer] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      ReleaseHandle(easy);
      GiveUp(std::move(transfer->part), "shutdown");
    }
    transfers_.clear();
    for (auto& part : ready_) GiveUp(std::move(part), "shutdown");
    ready_.clear();
    for (auto& [time, part] : retry_) GiveUp(std::move(part), "shutdown");
    retry_.clear();
  }

  void TakeIncoming() {
    std::vector<Incoming> incoming;
    {
      MutexLock lock(&mu_);
      incoming.swap(incoming_);
    }
    const absl::Time now = clock_.Now();
    for (Incoming& in : incoming) {
      ExportRequest& request = in.request;
      auto batch = std::make_shared<Batch>();
      batch->bytes = static_cast<int64_t>(request.body.size());
      batch->age_base = request.oldest_item_time == absl::InfinitePast() ? now : request.oldest_item_time;
      const int s = static_cast<int>(request.signal);
      const int64_t max_items = request.signal == Signal::kMetrics ? options_.max_metric_data_points : 0;
      std::vector<std::string> bodies;
      if (in.needs_split) {
        bodies = options_.splitter(request.signal, request.body, options_.max_request_bytes[s], max_items);
      }
      if (bodies.size() <= 1) {
        auto part = std::make_unique<Part>();
        if (bodies.empty() && !in.wire.empty()) {
          part->wire = std::move(in.wire);  // compressed by Export; the body is not kept
          request.body = std::string();
        } else {
          part->body = std::move(request.body);
        }
        part->items = request.items;
        part->batch = batch;
        batch->pending_parts = 1;
        batch->request = std::move(request);
        ready_.push_back(std::move(part));
        continue;
      }
      batch->pending_parts = static_cast<int>(bodies.size());
      batch->request = std::move(request);
      batch->request.body.clear();
      for (std::string& body : bodies) {
        auto part = std::make_unique<Part>();
        part->items = options_.count_items(batch->request.signal, body);
        part->body = std::move(body);
        part->batch = batch;
        ready_.push_back(std::move(part));
      }
    }
  }

  // The uncompressed body of a part that was sent (rare: 413 splitting).
  std::string BodyOf(const Part& part) const {
    if (!part.body.empty() || part.wire.empty()) return part.body;
    if (!options_.gzip) return part.wire;
    // Our own gzip of a body that was at most max_request_bytes * 2 (or one
    // oversized item); the limit only guards against a logic error.
    absl::StatusOr<std::string> body = GzipDecompress(part.wire, size_t{1} << 31);
    return body.ok() ? *std::move(body) : std::string();
  }

  CURL* AcquireHandle() {
    if (free_handles_.empty()) return curl_easy_init();
    CURL* easy = free_handles_.back();
    free_handles_.pop_back();
    curl_easy_reset(easy);
    return easy;
  }

  void ReleaseHandle(CURL* easy) { free_handles_.push_back(easy); }

  void StartTransfers() {
    while (!ready_.empty() && static_cast<int>(transfers_.size()) < std::max(1, options_.max_concurrent_requests)) {
      std::unique_ptr<Part> part = std::move(ready_.front());
      ready_.pop_front();
      const Signal signal = part->batch->request.signal;
      const int s = static_cast<int>(signal);
      if (part->wire.empty()) {
        // Only the bytes on the wire are kept from here on: a queue full of
        // requests must not hold every body twice. A 413 recovers the body.
        part->wire = options_.gzip ? GzipCompressFast(part->body) : std::move(part->body);
        part->body = std::string();
      }
      if (part->attempts > 0) metrics_[s].retries->Add();
      ++part->attempts;
      auto transfer = std::make_unique<Transfer>();
      transfer->part = std::move(part);
      CURL* easy = AcquireHandle();
      transfer->easy = easy;
      const std::string& wire = transfer->part->wire;
      curl_easy_setopt(easy, CURLOPT_URL, urls_[s].c_str());
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, wire.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(wire.size()));
      curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_[s]);
      curl_easy_setopt(easy, CURLOPT_USERAGENT, "otlp-reparent-gateway");
      curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteCallback);
      curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
      curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HeaderCallback);
      curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
      curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
      if (!options_.ca_file.empty()) {
        // Exactly this bundle: not the build distribution's CA directory.
        curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
        curl_easy_setopt(easy, CURLOPT_CAPATH, nullptr);
      }
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(options_.request_timeout)));
      curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
      curl_multi_add_handle(multi_, easy);
      transfers_[easy] = std::move(transfer);
    }
  }

  void ProcessCompleted(bool shutting_down, absl::Time deadline) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> transfer = std::move(it->second);
      transfers_.erase(it);
      curl_multi_remove_handle(multi_, easy);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      ReleaseHandle(easy);
      HandleResult(std::move(transfer), code, status, shutting_down, deadline);
    }
  }

  void HandleResult(std::unique_ptr<Transfer> transfer, CURLcode code, long status, bool shutting_down,
                    absl::Time deadline) {
    std::unique_ptr<Part> part = std::move(transfer->part);
    const Signal signal = part->batch->request.signal;
    SignalMetrics& m = metrics_[static_cast<int>(signal)];
    const std::string signal_name(SignalName(signal));
    const absl::Time now = clock_.Now();

    if (code != CURLE_OK) {
      const char* reason = code == CURLE_OPERATION_TIMEDOUT ? "timeout" : "network";
      m.failures.at(reason)->Add();
      NoteFailure(now);
      if (ShouldLogFailure()) {
        LogWarn("export_attempt_failed",
                {{"signal", signal_name},
                 {"url", urls_[static_cast<int>(signal)]},
                 {"reason", reason},
                 {"error", transfer->error[0] != '\0' ? transfer->error : curl_easy_strerror(code)},
                 {"consecutive_failures", absl::StrCat(consecutive_failures_)}});
      }
      ScheduleRetry(std::move(part), absl::ZeroDuration(), now, shutting_down, deadline);
      return;
    }
    if (status >= 200 && status < 300) {
      NoteSuccess();
      int64_t rejected = 0;
      if (!transfer->response_body.empty()) {
        std::string message;
        rejected = std::max<int64_t>(0, PartialSuccessRejected(signal, transfer->response_body, &message));
        rejected = std::min(rejected, part->items);
        if (rejected > 0 || !message.empty()) {
          m.rejected_items.at("partial_success")->Add(rejected);
          LogWarn("export_partial_success", {{"signal", signal_name},
                                             {"rejected", absl::StrCat(rejected)},
                                             {"message", Redact(message)}});
        }
      }
      m.delivered_requests->Add();
      m.exported_items->Add(part->items - rejected);
      Finish(std::move(part), ExportOutcome::kDelivered, rejected);
      return;
    }
    const std::string reason = FailureReason(status);
    m.failures.at(reason)->Add();
    if (IsRetryableStatus(status)) {
      NoteFailure(now);
      if (ShouldLogFailure()) {
        LogWarn("export_attempt_failed", {{"signal", signal_name},
                                          {"status", absl::StrCat(status)},
                                          {"reason", reason},
                                          {"retry_after", transfer->retry_after},
                                          {"consecutive_failures", absl::StrCat(consecutive_failures_)}});
      }
      ScheduleRetry(std::move(part), ParseRetryAfter(transfer->retry_after, now), now, shutting_down, deadline);
      return;
    }
    if (status == 413) {
      const int64_t max_items = signal == Signal::kMetrics ? options_.max_metric_data_points : 0;
      const std::string body = BodyOf(*part);
      std::vector<std::string> halves =
          body.size() >= 2 ? options_.splitter(signal, body, body.size() / 2, max_items) : std::vector<std::string>{};
      if (halves.size() > 1) {
        LogInfo("export_split_after_413", {{"signal", signal_name},
                                           {"bytes", absl::StrCat(body.size())},
                                           {"parts", absl::StrCat(halves.size())}});
        std::shared_ptr<Batch> batch = part->batch;
        batch->pending_parts += static_cast<int>(halves.size()) - 1;
        for (auto it = halves.rbegin(); it != halves.rend(); ++it) {
          auto half = std::make_unique<Part>();
          half->items = options_.count_items(signal, *it);
          half->body = std::move(*it);
          half->batch = batch;
          ready_.push_front(std::move(half));
        }
        return;
      }
    }
    // Permanently refused. The target answered, so it is reachable.
    NoteSuccess();
    LogWarn("export_rejected", {{"signal", signal_name},
                                {"url", urls_[static_cast<int>(signal)]},
                                {"status", absl::StrCat(status)},
                                {"items", absl::StrCat(part->items)},
                                {"body", Redact(transfer->response_body.substr(
                                             0, options_.max_logged_response_bytes))}});
    Reject(std::move(part), reason == "http_408" || reason == "http_429" ? "http_4xx" : reason);
  }

  absl::Duration ParseRetryAfter(const std::string& value, absl::Time now) const {
    if (value.empty()) return absl::ZeroDuration();
    int64_t seconds = 0;
    absl::Duration d = absl::ZeroDuration();
    if (absl::SimpleAtoi(value, &seconds)) {
      d = absl::Seconds(std::max<int64_t>(0, seconds));
    } else {
      const time_t when = curl_getdate(value.c_str(), nullptr);
      if (when < 0) return absl::ZeroDuration();
      d = std::max(absl::ZeroDuration(), absl::FromTimeT(when) - now);
    }
    return std::min(d, options_.max_retry_after);
  }

  absl::Duration Backoff(int attempts) {
    absl::Duration d = options_.initial_backoff;
    for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d = d * options_.backoff_multiplier;
    d = std::min(d, options_.max_backoff);
    std::uniform_real_distribution<double> dist(1.0 - options_.jitter, 1.0 + options_.jitter);
    return d * dist(rng_);
  }

  void ScheduleRetry(std::unique_ptr<Part> part, absl::Duration retry_after, absl::Time now, bool shutting_down,
                     absl::Time deadline) {
    absl::Duration backoff = Backoff(part->attempts);
    if (flush_waiters_.load() > 0) backoff = std::min(backoff, options_.flush_retry_interval);
    const absl::Duration delay = std::max(retry_after, backoff);
    const absl::Time next = now + delay;
    part->not_before = now + retry_after;
    if (next - part->batch->age_base > options_.max_item_age) {
      GiveUp(std::move(part), "max_age");
      return;
    }
    if (shutting_down && next >= deadline) {
      GiveUp(std::move(part), "shutdown");
      return;
    }
    retry_.emplace(next, std::move(part));
  }

  void Reject(std::unique_ptr<Part> part, const std::string& reason) {
    SignalMetrics& m = metrics_[static_cast<int>(part->batch->request.signal)];
    m.rejected_requests->Add();
    m.rejected_items.at(reason)->Add(part->items);
    Finish(std::move(part), ExportOutcome::kRejected, 0);
  }

  void GiveUp(std::unique_ptr<Part> part, const char* reason) {
    const Signal signal = part->batch->request.signal;
    SignalMetrics& m = metrics_[static_cast<int>(signal)];
    m.given_up_requests->Add();
    m.given_up_items.at(reason)->Add(part->items);
    LogWarn("export_given_up", {{"signal", std::string(SignalName(signal))},
                                {"reason", reason},
                                {"items", absl::StrCat(part->items)},
                                {"attempts", absl::StrCat(part->attempts)}});
    Finish(std::move(part), ExportOutcome::kGivenUp, 0);
  }

  void Finish(std::unique_ptr<Part> part, ExportOutcome outcome, int64_t rejected_items) {
    std::shared_ptr<Batch> batch = std::move(part->batch);
    part.reset();
    if (outcome == ExportOutcome::kGivenUp) batch->any_given_up = true;
    if (outcome == ExportOutcome::kRejected) batch->any_rejected = true;
    batch->rejected_items += rejected_items;
    if (--batch->pending_parts > 0) return;
    ExportResult result;
    result.outcome = batch->any_given_up  ? ExportOutcome::kGivenUp
                     : batch->any_rejected ? ExportOutcome::kRejected
                                           : ExportOutcome::kDelivered;
    result.rejected_items = batch->rejected_items;
    gauges_->queued_bytes.fetch_sub(batch->bytes);
    gauges_->queued_requests.fetch_sub(1);
    if (batch->request.on_done) batch->request.on_done(result);
    if (flush_waiters_.load() > 0) {
      MutexLock wake_flush(&mu_);
    }
  }

  void NoteSuccess() {
    consecutive_failures_ = 0;
    failing_since_ns_.store(kNotFailing);
  }

  void NoteFailure(absl::Time now) {
    ++consecutive_failures_;
    int64_t expected = kNotFailing;
    failing_since_ns_.compare_exchange_strong(expected, absl::ToUnixNanos(now));
  }

  // Logs the 1st, 2nd, 4th, 8th, ... failure of a run, so an outage does not
  // flood the log.
  bool ShouldLogFailure() const { return (consecutive_failures_ & (consecutive_failures_ - 1)) == 0; }

  // Removes configured header values (the API token) from text bound for logs.
  std::string Redact(std::string text) const {
    for (const auto& [name, value] : options_.headers) {
      if (value.size() < 4) continue;
      text = absl::StrReplaceAll(text, {{value, "<redacted>"}});
      const size_t space = value.find(' ');
      if (space != std::string::npos && value.size() - space > 8) {
        text = absl::StrReplaceAll(text, {{value.substr(space + 1), "<redacted>"}});
      }
    }
    return text;
  }

  OtlpHttpExporterOptions options_;
  const Clock& clock_;
  std::string urls_[kSignalCount];
  curl_slist* headers_[kSignalCount] = {};
  SignalMetrics metrics_[kSignalCount];
  std::mt19937_64 rng_;
  std::shared_ptr<SharedGauges> gauges_;
  std::atomic<int64_t> failing_since_ns_{kNotFailing};
  CURLM* multi_ = nullptr;

  Mutex mu_;
  // A request handed to Export, with its body already compressed when it
  // goes out whole.
  struct Incoming {
    ExportRequest request;
    std::string wire;
    bool needs_split = false;
  };
  std::vector<Incoming> incoming_ ABSL_GUARDED_BY(mu_);
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Flush calls so far, and how many of them the exporter thread has seen.
  uint64_t flush_requests_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_requests_seen_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int> flush_waiters_{0};

  // Exporter thread only.
  std::deque<std::unique_ptr<Part>> ready_;
  std::multimap<absl::Time, std::unique_ptr<Part>> retry_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::vector<CURL*> free_handles_;
  int64_t consecutive_failures_ = 0;

  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

OtlpHttpExporterOptions ForDynatrace(std::string endpoint, std::string api_token) {
  OtlpHttpExporterOptions options;
  options.endpoint = std::move(endpoint);
  options.headers.emplace_back("Authorization", absl::StrCat("Api-Token ", api_token));
  return options;
}

std::string ExportUrl(const OtlpHttpExporterOptions& options, Signal signal) {
  const std::string& full = options.signal_endpoint[static_cast<int>(signal)];
  if (!full.empty()) return full;
  std::string base = options.endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return absl::StrCat(base, "/v1/", ToAbsl(SignalName(signal)));
}

std::unique_ptr<Exporter> NewOtlpHttpExporter(const OtlpHttpExporterOptions& options, MetricsRegistry& registry,
                                              const Clock& clock) {
  return std::make_unique<OtlpHttpExporter>(options, registry, clock);
}

}  // namespace gateway
