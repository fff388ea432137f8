// Requests refused for lack of room wait here for room, in arrival order,
// instead of being answered "overloaded" at once.
//
// When the memory budget is full, room comes back as exports finish, often
// within a millisecond. A client told UNAVAILABLE sends the whole request
// again later, and the gateway receives it twice; a client that waits a
// little is accepted the first time. So a receiver whose calls can finish
// later (gRPC's callback API) submits each request here: it is accepted at
// once when there is room; otherwise it waits, at the back of the list, until
// room comes, until `max_wait` has passed or half the client's own deadline
// is left, whichever is first, and is then offered one last time (accepted
// or answered "overloaded" with the pipeline's retry delay). A request that
// does not fit under `max_waiting_bytes` (the waiting bodies are memory the
// budget does not count) is answered at once. While any request waits, new
// ones queue behind it, so the oldest is admitted first.
//
//   AdmissionWaitlist waitlist(ingest, {absl::Milliseconds(500), 8 << 20}, RealClock(), metrics);
//   waitlist.Submit(Signal::kTraces, std::move(body), client_deadline,
//                   [reactor](IngestResult result) { reactor->Finish(ToStatus(result)); });
//   ...
//   waitlist.Stop();  // offers each waiting request once more, then returns
//
// Thread-safe: Submit from any number of threads. `done` runs exactly once,
// on the submitting thread or on the waitlist's own thread, which offers the
// head of the list again as soon as the budget has room for it
// (Ingest::AwaitRoom), and at least every `poll`.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "gateway/receivers/receiver_common.h"
#include "pipeline/base/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/signal.h"
#include "pipeline/base/sync.h"
#include "pipeline/ingest/ingest.h"

namespace gateway {

struct AdmissionWaitlistOptions {
  // Longest wait for room. Zero: never wait (answer at once).
  absl::Duration max_wait = absl::Milliseconds(500);
  // Bytes of request bodies waiting at most.
  int64_t max_waiting_bytes = int64_t{8} << 20;
  // Longest time between two offers of the head of the list while there is
  // no room (it is offered again at once when a release makes room for it);
  // also how long Stop may wait for the thread.
  absl::Duration poll = absl::Milliseconds(1);
};

class AdmissionWaitlist final {
 public:
  using Done = absl::AnyInvocable<void(IngestResult)>;

  // `ingest`, `clock` and `metrics` must outlive the waitlist.
  AdmissionWaitlist(Ingest& ingest, AdmissionWaitlistOptions options, Clock& clock, MetricsRegistry& metrics);
  ~AdmissionWaitlist();  // Stop()
  AdmissionWaitlist(const AdmissionWaitlist&) = delete;
  AdmissionWaitlist& operator=(const AdmissionWaitlist&) = delete;

  // Hands `body` to the Ingest now or once there is room; `done` gets the
  // outcome. `client_deadline`: when the client gives up
  // (absl::InfiniteFuture() if never).
  void Submit(Signal signal, std::string body, absl::Time client_deadline, Done done);

  // Offers each waiting request one last time (Accept), runs its `done`, and
  // stops the thread; later Submits go straight to Accept. Idempotent; call
  // before the Ingest shuts down for good, from one thread.
  void Stop();

  // Requests waiting now.
  int64_t Waiting() const;

 private:
  struct Parked {
    Signal signal = Signal::kTraces;
    std::string body;
    absl::Time until;  // offered for the last time from then on
    absl::Time since;
    Done done;
  };

  void Run();

  Ingest& ingest_;
  const AdmissionWaitlistOptions options_;
  Clock& clock_;
  // timed_out: waited max_wait, then offered once more; no_wait: refused
  // for room with no space in the list or no time before the client gives
  // up; shutdown: waiting when Stop was called.
  AdmissionWaitCounters counters_;

  mutable Mutex mu_;
  // Waiting requests, oldest first. The head is out of the list while the
  // thread offers it.
  std::deque<Parked> waiting_ ABSL_GUARDED_BY(mu_);
  int64_t waiting_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // waiting_.size() plus the one being offered; changed under mu_, read
  // without it by Submit's fast path and by Waiting().
  std::atomic<int64_t> queued_{0};
  std::thread thread_;
};

}  // namespace gateway
