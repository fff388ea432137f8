#include "pipeline/export/otlp_http_exporter.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/absl_compat.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/sync.h"
#include "pipeline/base/thread_name.h"
#include "pipeline/export/curl_http_transport.h"
#include "pipeline/export/export_metrics.h"
#include "pipeline/export/partial_success.h"
#include "pipeline/export/retry_policy.h"
#include "pipeline/export/secret_redactor.h"
#include "pipeline/otlp/gzip.h"
#include "pipeline/otlp/otlp_wire.h"

namespace gateway {
namespace {

constexpr absl::Duration kIdlePoll = absl::Seconds(1);
// While retries or a shutdown deadline are pending, the loop re-reads the
// (possibly simulated) clock at least this often.
constexpr absl::Duration kTimerPoll = absl::Milliseconds(20);

// Gauges read from the admin thread; shared so a gauge outliving the exporter
// stays valid.
struct SharedGauges {
  std::atomic<int64_t> queued_bytes{0};
  std::atomic<int64_t> queued_requests{0};
  // The 401 or 403 of the latest refusal, 0 while credentials are accepted.
  std::atomic<long> auth_refused_status{0};
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
  // Parts made by splitting after a 400 to isolate refused items.
  int isolation_parts = 0;
};

// Bound on the requests a 400 may cost one batch: halving isolates one
// refused item among 2000 in ~22 requests; past the bound, what still fails
// is rejected whole.
constexpr int kMaxIsolationParts = 64;

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

class OtlpHttpExporter final : public Exporter {
 public:
  OtlpHttpExporter(const OtlpHttpExporterOptions& options, MetricsRegistry& registry, const Clock& clock,
                   std::unique_ptr<HttpTransport> transport)
      : options_(options),
        clock_(clock),
        policy_(options.retry),
        redactor_(options.headers),
        gauges_(std::make_shared<SharedGauges>()),
        transport_(std::move(transport)) {
    if (!options_.splitter) options_.splitter = &SplitExportRequest;
    if (!options_.count_items) options_.count_items = &CountItems;
    for (int i = 0; i < kSignalCount; ++i) {
      const Signal signal = static_cast<Signal>(i);
      urls_[i] = ExportUrl(options_, signal);
      metrics_[i] = ExportSignalMetrics::Register(registry, signal);
    }
    std::shared_ptr<SharedGauges> gauges = gauges_;
    registry.AddGauge("gateway_export_queue_bytes", "Bytes accepted by the exporter and not yet done", {},
                      [gauges] { return static_cast<double>(gauges->queued_bytes.load()); });
    registry.AddGauge("gateway_export_queue_requests", "Requests accepted by the exporter and not yet done",
                      {}, [gauges] { return static_cast<double>(gauges->queued_requests.load()); });
    registry.AddGauge("gateway_export_auth_refused",
                      "The HTTP status (401, 403) with which the export target refuses the API token; 0 when it "
                      "accepts it",
                      {}, [gauges] { return static_cast<double>(gauges->auth_refused_status.load()); });
    thread_ = std::thread([this] { Run(); });
    SetThreadName(thread_, "exporter");
  }

  ~OtlpHttpExporter() override { Shutdown(clock_.Now()).IgnoreError(); }

  void Export(ExportRequest request) override {
    const int64_t bytes = static_cast<int64_t>(request.body.size());
    // Compress here, on the caller's thread (engine workers, receiver
    // threads), so that gzip spreads over every core instead of serializing
    // on the one thread that drives the transport. Only bodies that go out
    // whole; split parts are compressed when they are first sent.
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
        transport_->Wakeup();
        return;
      }
    }
    // Refused after Shutdown: given up on the caller's thread.
    const ExportSignalMetrics& m = metrics_[s];
    m.given_up_requests->Add();
    m.GivenUpItems("shutdown")->Add(in.request.items);
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
    transport_->Wakeup();
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
    if (gauges_->auth_refused_status.load() != 0) return false;
    const int64_t since = failing_since_ns_.load();
    if (since == kNotFailing) return true;
    return clock_.Now() - absl::FromUnixNanos(since) < options_.unhealthy_after;
  }

  std::string HealthDetail() const override {
    const long status = gauges_->auth_refused_status.load();
    if (status != 0) {
      return absl::StrCat("the export target refuses the API token (HTTP ", status,
                          "); data is kept and retried: check the token and its scopes, or replace it");
    }
    return Healthy() ? std::string() : std::string("the export target has not accepted a request for a while");
  }

  absl::Status Shutdown(absl::Time deadline) override {
    {
      MutexLock lock(&mu_);
      if (!shutdown_requested_) {
        shutdown_requested_ = true;
        deadline_ = deadline;
      }
    }
    transport_->Wakeup();
    std::lock_guard<std::mutex> join_lock(join_mu_);
    if (thread_.joinable()) thread_.join();
    return absl::OkStatus();
  }

 private:
  static constexpr int64_t kNotFailing = std::numeric_limits<int64_t>::min();

  // ---- exporter thread ----

  void Run() {
    std::vector<HttpCompletion> completed;
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
      completed.clear();
      transport_->Perform(&completed);
      for (HttpCompletion& done : completed) {
        HandleCompletion(std::move(done), shutting_down ? deadline : absl::InfiniteFuture());
      }

      absl::Duration wait = kIdlePoll;
      if (!retry_.empty()) wait = std::min(wait, std::max(absl::ZeroDuration(), retry_.begin()->first - now));
      if (!retry_.empty() || shutting_down) wait = std::min(wait, kTimerPoll);
      if (!ready_.empty() && static_cast<int>(transfers_.size()) < options_.max_concurrent_requests) {
        wait = absl::ZeroDuration();
      }
      transport_->Wait(wait);
    }
    // Stopped: give up everything left, including requests racing in.
    {
      MutexLock lock(&mu_);
      stopped_ = true;
    }
    TakeIncoming();
    transport_->AbortAll();
    for (auto& [id, part] : transfers_) GiveUp(std::move(part), "shutdown");
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

  void StartTransfers() {
    while (!ready_.empty() && static_cast<int>(transfers_.size()) < std::max(1, options_.max_concurrent_requests)) {
      std::unique_ptr<Part> part = std::move(ready_.front());
      ready_.pop_front();
      const int s = static_cast<int>(part->batch->request.signal);
      if (part->wire.empty()) {
        // Only the bytes on the wire are kept from here on: a queue full of
        // requests must not hold every body twice. A 413 recovers the body.
        part->wire = options_.gzip ? GzipCompressFast(part->body) : std::move(part->body);
        part->body = std::string();
      }
      if (part->attempts > 0) metrics_[s].retries->Add();
      ++part->attempts;
      const uint64_t id = next_transfer_id_++;
      // The part, hence its wire bytes, stays in transfers_ until the
      // transfer completes or is aborted.
      transport_->Start(id, urls_[s], part->wire);
      transfers_[id] = std::move(part);
    }
  }

  void HandleCompletion(HttpCompletion done, absl::Time shutdown_deadline) {
    auto it = transfers_.find(done.id);
    if (it == transfers_.end()) return;
    std::unique_ptr<Part> part = std::move(it->second);
    transfers_.erase(it);
    const Signal signal = part->batch->request.signal;
    const int s = static_cast<int>(signal);
    const ExportSignalMetrics& m = metrics_[s];
    const std::string signal_name(SignalName(signal));
    const absl::Time now = clock_.Now();

    AttemptContext context;
    context.attempts = part->attempts;
    context.now = now;
    context.age_base = part->batch->age_base;
    context.shutdown_deadline = shutdown_deadline;
    context.may_isolate = part->items > 1 && part->batch->isolation_parts < kMaxIsolationParts;
    const RetryDecision decision = policy_.Decide({done.error, done.status, done.retry_after}, context);

    if (decision.action == RetryAction::kDeliver) {
      Deliver(std::move(part), done.body);
      return;
    }
    m.Failures(decision.failure)->Add();
    if (done.error == TransportError::kNone && IsAuthFailure(done.status)) NoteAuthRefused(done.status, s);
    if (decision.retryable) {
      NoteFailure(now);
      if (ShouldLogFailure()) {
        if (done.error != TransportError::kNone) {
          LogWarn("export_attempt_failed", {{"signal", signal_name},
                                            {"url", urls_[s]},
                                            {"reason", std::string(decision.failure)},
                                            {"error", done.error_message},
                                            {"consecutive_failures", absl::StrCat(consecutive_failures_)}});
        } else {
          LogWarn("export_attempt_failed", {{"signal", signal_name},
                                            {"status", absl::StrCat(done.status)},
                                            {"reason", std::string(decision.failure)},
                                            {"retry_after", done.retry_after},
                                            {"consecutive_failures", absl::StrCat(consecutive_failures_)}});
        }
      }
      if (decision.action == RetryAction::kGiveUp) {
        GiveUp(std::move(part), decision.final_reason);
      } else {
        const absl::Time not_before = now + RetryAfterDelay(done.retry_after, now, policy_.options().max_retry_after);
        part->not_before = not_before;
        absl::Time retry_at = decision.retry_at;
        // While a Flush waits (the end of a Lambda invoke), retry soon, but
        // never before the target's Retry-After.
        if (flush_waiters_.load() > 0) {
          retry_at = std::min(retry_at, std::max(not_before, now + options_.flush_retry_interval));
        }
        retry_.emplace(retry_at, std::move(part));
      }
      return;
    }
    if (decision.action == RetryAction::kSplit && SplitInHalves(*part, done.status)) return;
    // Permanently refused. The target answered, so it is reachable.
    NoteSuccess();
    LogWarn("export_rejected", {{"signal", signal_name},
                                {"url", urls_[s]},
                                {"status", absl::StrCat(done.status)},
                                {"items", absl::StrCat(part->items)},
                                {"body", Redact(done.body.substr(0, options_.max_logged_response_bytes))}});
    Reject(std::move(part), decision.final_reason);
  }

  // `text` without the configured secrets, nor the token as replaced since.
  std::string Redact(std::string text) const {
    text = redactor_.Redact(std::move(text));
    const ReplaceableHeader* token = options_.replaceable_header.get();
    return token == nullptr ? text : SecretRedactor({{token->name(), token->value()}}).Redact(std::move(text));
  }

  void Deliver(std::unique_ptr<Part> part, const std::string& response_body) {
    const Signal signal = part->batch->request.signal;
    const ExportSignalMetrics& m = metrics_[static_cast<int>(signal)];
    NoteSuccess();
    int64_t rejected = 0;
    if (!response_body.empty()) {
      const std::optional<PartialSuccess> partial = ParsePartialSuccess(signal, response_body);
      if (partial.has_value()) {
        rejected = std::min(std::max<int64_t>(0, partial->rejected_items), part->items);
        if (rejected > 0 || !partial->error_message.empty()) {
          m.RejectedItems("partial_success")->Add(rejected);
          LogWarn("export_partial_success", {{"signal", std::string(SignalName(signal))},
                                             {"rejected", absl::StrCat(rejected)},
                                             {"message", Redact(partial->error_message)}});
        }
      }
    }
    m.delivered_requests->Add();
    m.exported_items->Add(part->items - rejected);
    Finish(std::move(part), ExportOutcome::kDelivered, rejected);
  }

  // After a 413 or 400 (`status`): queues the halves of `part` in front of
  // the others; false (and `part` untouched) when it does not split.
  bool SplitInHalves(const Part& part, long status) {
    const Signal signal = part.batch->request.signal;
    const int64_t max_items = signal == Signal::kMetrics ? options_.max_metric_data_points : 0;
    const std::string body = BodyOf(part);
    std::vector<std::string> halves =
        body.size() >= 2 ? options_.splitter(signal, body, body.size() / 2, max_items) : std::vector<std::string>{};
    if (halves.size() <= 1) return false;
    LogInfo(status == 400 ? "export_split_after_400" : "export_split_after_413",
            {{"signal", std::string(SignalName(signal))},
             {"bytes", absl::StrCat(body.size())},
             {"parts", absl::StrCat(halves.size())}});
    std::shared_ptr<Batch> batch = part.batch;
    if (status == 400) batch->isolation_parts += static_cast<int>(halves.size());
    batch->pending_parts += static_cast<int>(halves.size()) - 1;
    for (auto it = halves.rbegin(); it != halves.rend(); ++it) {
      auto half = std::make_unique<Part>();
      half->items = options_.count_items(signal, *it);
      half->body = std::move(*it);
      half->batch = batch;
      ready_.push_front(std::move(half));
    }
    return true;
  }

  void Reject(std::unique_ptr<Part> part, std::string_view reason) {
    const ExportSignalMetrics& m = metrics_[static_cast<int>(part->batch->request.signal)];
    m.rejected_requests->Add();
    m.RejectedItems(reason)->Add(part->items);
    Finish(std::move(part), ExportOutcome::kRejected, 0);
  }

  void GiveUp(std::unique_ptr<Part> part, std::string_view reason) {
    const Signal signal = part->batch->request.signal;
    const ExportSignalMetrics& m = metrics_[static_cast<int>(signal)];
    m.given_up_requests->Add();
    m.GivenUpItems(reason)->Add(part->items);
    LogWarn("export_given_up", {{"signal", std::string(SignalName(signal))},
                                {"reason", std::string(reason)},
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
    if (const long was = gauges_->auth_refused_status.exchange(0); was != 0) {
      LogInfo("export_auth_accepted_again", {{"after_status", absl::StrCat(was)}});
    }
  }

  // One log line when the target starts refusing the credentials; readiness
  // says so until a request is accepted again.
  void NoteAuthRefused(long status, int signal) {
    if (gauges_->auth_refused_status.exchange(status) == 0) {
      LogError("export_auth_refused",
               {{"url", urls_[signal]},
                {"status", absl::StrCat(status)},
                {"action", "data kept and retried with backoff; /readyz answers 503 until a request is accepted"}});
    }
  }

  void NoteFailure(absl::Time now) {
    ++consecutive_failures_;
    int64_t expected = kNotFailing;
    failing_since_ns_.compare_exchange_strong(expected, absl::ToUnixNanos(now));
  }

  // Logs the 1st, 2nd, 4th, 8th, ... failure of a run, so an outage does not
  // flood the log.
  bool ShouldLogFailure() const { return (consecutive_failures_ & (consecutive_failures_ - 1)) == 0; }

  OtlpHttpExporterOptions options_;
  const Clock& clock_;
  std::string urls_[kSignalCount];
  ExportSignalMetrics metrics_[kSignalCount];
  RetryPolicy policy_;
  const SecretRedactor redactor_;
  std::shared_ptr<SharedGauges> gauges_;
  std::atomic<int64_t> failing_since_ns_{kNotFailing};
  // Outlives the exporter thread (joined by Shutdown, which the destructor
  // calls before members go).
  const std::unique_ptr<HttpTransport> transport_;

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
  // Parts on the wire, by transfer id.
  std::map<uint64_t, std::unique_ptr<Part>> transfers_;
  uint64_t next_transfer_id_ = 0;
  int64_t consecutive_failures_ = 0;

  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Exporter> NewOtlpHttpExporter(const OtlpHttpExporterOptions& options, MetricsRegistry& registry,
                                              const Clock& clock) {
  return NewOtlpHttpExporter(options, registry, clock, NewCurlHttpTransport(ExportTransportOptions(options)));
}

std::unique_ptr<Exporter> NewOtlpHttpExporter(const OtlpHttpExporterOptions& options, MetricsRegistry& registry,
                                              const Clock& clock, std::unique_ptr<HttpTransport> transport) {
  return std::make_unique<OtlpHttpExporter>(options, registry, clock, std::move(transport));
}

}  // namespace gateway
