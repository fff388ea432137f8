// The Telemetry API's HTTP destination: Lambda POSTs batches of platform
// events here; the extension waits for `platform.runtimeDone` of the
// invocation in hand before it flushes.
//
//   RuntimeDoneTracker done;
//   TelemetryHandler handler(done);
//   std::unique_ptr<HttpServer> server = *StartHttpServer(options, handler);
//   ...                                          // on the event loop:
//   if (done.WaitFor(request_id, deadline)) ...  // runtimeDone arrived
//
// The handler answers 200 to every POST it can parse and 400 otherwise (it
// never holds Lambda's delivery up), 405 to other methods.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "gateway/receivers/http_handler.h"
#include "pipeline/base/sync.h"

namespace gateway::lambda {

// Request ids whose runtime finished, as told by platform.runtimeDone. Keeps
// the most recent kRemembered ids (an id is waited for only while its invoke
// is current). Thread-safe.
class RuntimeDoneTracker final {
 public:
  static constexpr size_t kRemembered = 64;

  void MarkDone(const std::string& request_id);
  bool IsDone(const std::string& request_id) const;
  // Blocks until `request_id` is done or `deadline` (wall clock) passes;
  // true if it is done.
  bool WaitFor(const std::string& request_id, absl::Time deadline) const;

  // Telemetry POSTs received, and platform events in them.
  int64_t batches() const;
  int64_t platform_events() const;
  void CountBatch(int64_t platform_events);

 private:
  mutable Mutex mu_;
  absl::flat_hash_set<std::string> done_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
  int64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t platform_events_ ABSL_GUARDED_BY(mu_) = 0;
};

class TelemetryHandler final : public HttpHandler {
 public:
  // `tracker` must outlive the handler.
  explicit TelemetryHandler(RuntimeDoneTracker& tracker) : tracker_(tracker) {}
  HttpResponse Handle(HttpRequest request) override;

 private:
  RuntimeDoneTracker& tracker_;
};

}  // namespace gateway::lambda
