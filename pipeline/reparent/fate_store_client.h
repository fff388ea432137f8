// The gateway's one client of the fate store: a thread of its own that
// batches the fates the shard workers publish and the lookups they ask for
// into pipelined round trips, so that no receiver or shard worker ever waits
// on the network. docs/reparenting.md ("Across gateways") states the rules.
//
//   FateStoreClient client(options, std::move(store), registry, clock);
//   auto replies = std::make_shared<FateStoreReplies>([&] { WakeWorker(); });
//   client.Submit({StoredFate{...}}, {FateStoreLookup{id, {query}, deadline, replies}});   // any thread
//   FateStoreAnswer answer;
//   while (replies->TryTake(&answer)) { ... }                                          // the worker
//   ...
//   client.Shutdown();   // after the engine: one last round trip for what is unpublished
//
// Hand-offs: Submit enqueues on a moodycamel::BlockingConcurrentQueue with
// many producers (the shard workers) and one consumer (the client thread);
// answers go back through each gate's FateStoreReplies, one producer (the client
// thread) and one consumer (that gate's worker).
//
// The store down (a round trip failed) means every lookup is answered
// kUnavailable at once, without waiting, until a reconnect succeeds (tried
// with the pending publishes, or a bare round trip, after a backoff from
// 250 ms doubling to 5 s). Publishes wait in a bounded queue meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "concurrentqueue/blockingconcurrentqueue.h"
#include "pipeline/base/clock.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "pipeline/otlp/trace_ids.h"
#include "pipeline/reparent/fate_store.h"

namespace gateway {

struct FateStoreClientOptions {
  // Kinds whose fates are published (link targets: producers at least).
  std::vector<SpanKind> publish_kinds = {SpanKind::kProducer};
  // Longest a consumer span waits for the store's answer (FateStoreGate);
  // below the hold window, so that its held children are still waiting
  // when it is decided.
  absl::Duration max_wait = absl::Seconds(5);
  // Consumer spans waiting for an answer, per shard; more go on without
  // asking.
  int64_t max_waiting = 100'000;
  // How long the store keeps a published fate.
  absl::Duration ttl = absl::Minutes(10);
  // Longest one round trip may take before the store counts as down.
  absl::Duration timeout = absl::Milliseconds(200);
  // A fate the store does not have yet is asked again this often, until the
  // lookup's deadline (its producer's gateway may not have decided it yet).
  absl::Duration retry_interval = absl::Milliseconds(250);
  // Commands in one round trip (publishes first, then lookups).
  size_t max_batch = 512;
  // A new lookup waits this long for others to share its round trip (it
  // takes every lookup and publish pending along). The client sleeps
  // through it rather than wake for every arrival.
  absl::Duration lookup_linger = absl::Milliseconds(5);
  // Fates to publish wait this long for more: in each gate before it hands
  // them to the client (unless it has a lookup to hand over, or 256
  // fates), then in the client before a round trip (unless a lookup goes
  // first and takes them along, or max_batch / 2 are waiting).
  absl::Duration publish_linger = absl::Milliseconds(10);
  // Publishes kept while the store is down; past it the oldest are dropped.
  size_t max_pending_publishes = 100'000;
  // Fates this gateway published or read, answered without a round trip;
  // cleared whole when full.
  size_t cache_entries = 100'000;
  // Longest the client thread sleeps with nothing to do.
  absl::Duration tick = absl::Milliseconds(50);
};

// The answer to one FateStoreLookup.
struct FateStoreAnswer {
  enum class Outcome : uint8_t {
    // Every query asked: each fate known or absent (no gateway published it
    // before the deadline).
    kAnswered,
    // The store is down or failed: what `fates` holds came from the cache.
    kUnavailable,
  };
  uint64_t id = 0;
  Outcome outcome = Outcome::kAnswered;
  // One per query, in order: where the span went, nullopt when unknown.
  std::vector<std::optional<TraceId>> fates;
};

// Answers on their way to one gate: one producer (the client thread), one
// consumer (the gate's worker). Thread-safe as stated per method.
class FateStoreReplies {
 public:
  // `wake` is called (client thread) after each delivery, until Close.
  explicit FateStoreReplies(std::function<void()> wake) : wake_(std::move(wake)) {}

  // Client thread.
  void Deliver(FateStoreAnswer answer);
  // The gate's worker. False when none is waiting.
  bool TryTake(FateStoreAnswer* answer);
  // The gate's worker: blocks until an answer is waiting or `deadline`
  // (wall clock).
  void WaitForAnswer(absl::Time deadline);
  // The gate's worker, before what `wake` touches is destroyed: later
  // answers are dropped and `wake` is never called again (a Deliver in
  // progress finishes first).
  void Close();

 private:
  Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<FateStoreAnswer> answers_ ABSL_GUARDED_BY(mu_);
  const std::function<void()> wake_;
};

// A lookup: the fates of `queries`, asked until `deadline`.
struct FateStoreLookup {
  uint64_t id = 0;
  std::vector<StoredFateKey> queries;
  absl::Time deadline;
  std::shared_ptr<FateStoreReplies> reply_to;
};

// Counters the gates bump (registered by the client, so that every fate
// store metric is in one place).
struct FateStoreGateCounters {
  // Target spans decided without an answer from the store.
  Counter* degraded_unavailable;
  Counter* degraded_timeout;
  Counter* degraded_overflow;
  Counter* degraded_shutdown;
  Counter* degraded_flush;
  // Target spans that waited for an answer, and their waits in microseconds.
  Counter* waits;
  Counter* wait_micros;
  // Moved fates fed into a resolver.
  Counter* learned;
  // Consumers with a link target that moved (the resolver follows it).
  Counter* followed;
  // Spans waiting for an answer now, all gates.
  std::atomic<int64_t>* waiting;
};

// For /status.
struct FateStoreSnapshot {
  std::string store;
  bool up = true;
  std::string last_error;
  int64_t round_trips = 0;
  int64_t round_trip_errors = 0;
  int64_t published = 0;
  int64_t lookups_found = 0;
  int64_t lookups_absent = 0;
  int64_t degraded = 0;
  int64_t waiting = 0;
};

class FateStoreClient final {
 public:
  // Starts the client thread. `metrics` and `clock` must outlive the client.
  FateStoreClient(const FateStoreClientOptions& options, std::unique_ptr<FateStore> store,
                  MetricsRegistry& metrics, const Clock& clock);
  ~FateStoreClient() { Shutdown(); }

  FateStoreClient(const FateStoreClient&) = delete;
  FateStoreClient& operator=(const FateStoreClient&) = delete;

  // Any thread; never blocks. Fates to publish and lookups to answer (each
  // through its reply_to, exactly once unless that was closed). After
  // Shutdown, lookups are answered kUnavailable at once and publishes
  // dropped.
  void Submit(std::vector<StoredFate> publish, std::vector<FateStoreLookup> lookups);

  // Sends what is pending now (the publishes handed over before the call,
  // lingering or not) and waits for that round trip until `deadline` (wall
  // clock): true when it succeeded, false when the store is down or time
  // ran out (what was not sent stays queued). Any thread; for the Lambda
  // extension's flush at the end of an invocation, after the engine's.
  bool Flush(absl::Time deadline);

  // Stops the thread after one last round trip (bounded by the timeout) for
  // the publishes still pending. Idempotent; call after the engine's
  // Shutdown.
  void Shutdown();

  const FateStoreClientOptions& options() const { return options_; }
  const FateStoreGateCounters& gate_counters() const { return gate_counters_; }
  // Thread-safe.
  FateStoreSnapshot Snapshot() const;

 private:
  // A flush's outcome, set by the client thread.
  struct FlushWaiter {
    Notification done;
    std::atomic<bool> sent{false};
  };
  struct Item {
    std::vector<StoredFate> publish;
    std::vector<FateStoreLookup> lookups;
    bool stop = false;
    std::shared_ptr<FlushWaiter> flush;
  };
  struct Pending {
    FateStoreLookup lookup;
    std::vector<std::optional<TraceId>> fates;
    // Asked at the first round trip from this time on (the linger), then
    // again (queries still unknown) from this time on.
    absl::Time next_ask;
    bool asked_once = false;
  };

  void Run();
  void Take(Item& item, absl::Time now);
  // Answers from the cache what it can; true when every query is known.
  bool FillFromCache(Pending* pending);
  // When the next round trip is due (InfiniteFuture: nothing to send).
  absl::Time NextRoundTrip() const;
  // One round trip with what is due; false when there was nothing to do.
  bool Exchange(absl::Time now);
  void Answer(Pending& pending, FateStoreAnswer::Outcome outcome);
  void AnswerAllUnavailable();
  void Remember(const StoredFateKey& query, const TraceId& new_trace);
  void SetDown(const absl::Status& error, absl::Time now);

  // The queue's semaphore spins this much before it sleeps (moodycamel's
  // default, 10000, costs CPU at every wait of a thread that waits often
  // and is in no hurry at the microsecond scale).
  struct QueueTraits : moodycamel::ConcurrentQueueDefaultTraits {
    static const int MAX_SEMA_SPINS = 100;
  };

  const FateStoreClientOptions options_;
  const std::unique_ptr<FateStore> store_;
  const Clock& clock_;
  const std::string description_;
  moodycamel::BlockingConcurrentQueue<Item, QueueTraits> queue_;

  // Client thread only.
  std::deque<StoredFate> publishes_;
  // When the oldest of publishes_ arrived.
  absl::Time publishes_since_;
  std::vector<Pending> pending_;
  std::vector<std::shared_ptr<FlushWaiter>> flushes_;
  absl::flat_hash_map<StoredFateKey, TraceId> cache_;
  bool up_ = true;
  absl::Time next_attempt_ = absl::InfinitePast();
  absl::Duration backoff_;
  // Scratch space for a round trip.
  std::vector<StoredFateKey> asked_;
  std::vector<std::optional<TraceId>> found_;

  std::atomic<bool> stopped_{false};
  std::atomic<bool> up_published_{true};
  std::atomic<int64_t> waiting_{0};
  mutable Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  Counter* round_trips_ok_;
  Counter* round_trips_failed_;
  Counter* published_;
  Counter* publish_dropped_;
  Counter* lookups_found_;
  Counter* lookups_cached_;
  Counter* lookups_absent_;
  Counter* lookups_unavailable_;
  FateStoreGateCounters gate_counters_;
  std::thread thread_;
};

}  // namespace gateway
