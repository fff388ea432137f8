// One shard worker's side of the fate store: it holds back consumer spans
// (targets) until the store says where their link targets went, feeds the
// fates it learns into the worker's resolver, and publishes the fates the
// resolver decides for spans of the published kinds (FateObserver).
// docs/reparenting.md ("Across gateways") states the rules.
//
//   FateStoreGate gate(client, reparent_options, [&] { WakeWorker(); });
//   resolver.ObserveFates(&gate, client.options().publish_kinds);
//   // per request:
//   if (gate.Admit(buffer, spans, now, &pass)) spans_to_process = pass;
//   resolver.ProcessRequest(buffer, spans_to_process, now, &out);
//   // per worker wake-up:
//   gate.Poll(now, resolver, &out);
//   gate.Flush();
//   // at shutdown, before resolver.ReleaseAll:
//   gate.ReleaseAll(now, resolver, &out);
//
// Worker thread only (the constructor and destructor too), except that
// `wake` runs on the client's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "pipeline/base/clock.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/span_ref.h"
#include "pipeline/reparent/fate_observer.h"
#include "pipeline/reparent/fate_store_client.h"
#include "pipeline/reparent/reparent_options.h"
#include "pipeline/reparent/trace_resolver.h"

namespace gateway {

class FateStoreGate final : public FateObserver {
 public:
  // `client` must outlive the gate. `wake` makes the worker call Poll soon
  // (it is called on the client's thread, never after the gate is gone).
  // Options (max_wait, max_waiting) come from client.options().
  FateStoreGate(FateStoreClient& client, const ReparentOptions& reparent, std::function<void()> wake);
  ~FateStoreGate() override;

  FateStoreGate(const FateStoreGate&) = delete;
  FateStoreGate& operator=(const FateStoreGate&) = delete;

  // Holds back the targets of `spans` (a span of a target kind with a valid
  // cross-trace link) and queues a lookup of their links; appends the other
  // spans to `pass` (cleared first), in order. False when nothing was held
  // back (`pass` is then untouched: process `spans`). `buffer` owns the
  // spans' bytes; held spans keep a reference.
  bool Admit(const std::shared_ptr<const RequestBuffer>& buffer, absl::Span<const SpanRef> spans, absl::Time now,
             std::vector<SpanRef>* pass);

  // Takes the answers that arrived: their moved fates go into `resolver`
  // (LearnStoredFate); then every span whose answer is in, or whose wait is over,
  // goes through resolver.Process into `out`.
  void Poll(absl::Time now, TraceResolver& resolver, std::vector<OutputSpan>* out);

  // Hands what Admit and OnFate collected to the client, in one Submit:
  // lookups at once, with any fates to publish; fates alone once the
  // oldest has waited publish_linger, 256 are waiting, or `force`.
  void Flush(absl::Time now, bool force = false);

  // When the first span held back must go on without an answer, or fates
  // waiting to be published must be handed on; InfiniteFuture when neither.
  absl::Time NextDeadline() const;

  // Every span held back goes on without an answer (shutdown).
  void ReleaseAll(absl::Time now, TraceResolver& resolver, std::vector<OutputSpan>* out);

  // A flush: hands everything collected to the client, waits (blocking the
  // worker) for the answers of the spans held back until `until` (wall
  // clock) and lets them go on; those still without an answer then go on
  // without one (counted as degraded, reason "flush"). `clock` gives the
  // engine's time.
  void Settle(absl::Time until, const Clock& clock, TraceResolver& resolver, std::vector<OutputSpan>* out);

  int64_t Waiting() const { return static_cast<int64_t>(waiting_.size()); }

  // FateObserver: publishes where `span` went.
  void OnFate(const SpanRef& span, const TraceId& new_trace) override;

 private:
  struct HeldBack {
    SpanRef span;
    std::shared_ptr<const RequestBuffer> buffer;
    absl::Time arrival;
    absl::Time deadline;
    // What was asked, in the order of the answer's fates.
    std::vector<StoredFateKey> queries;
    // The target's invocation (a root SERVER span with faas.trigger =
    // pubsub, its parent) when it came after it in the same request: held
    // with it and handed to the resolver together, as one request.
    std::vector<SpanRef> companions;
  };

  // Whether `span` is the invocation `target` may take along.
  static bool IsInvocationOf(const SpanRef& span, const SpanRef& target);

  // Appends the queries for `span`'s links to lookups_; their count (0: not
  // a target).
  size_t AddQueries(const SpanRef& span);
  // Hands span `id` to the resolver; `answer` (null: none came) may
  // redirect its links.
  void Release(uint64_t id, absl::Time now, Counter* degraded, TraceResolver& resolver,
               std::vector<OutputSpan>* out, const FateStoreAnswer* answer = nullptr);

  // Whether the store says one of the link targets asked about moved: the
  // resolver then places the consumer in that target's new trace
  // (gateway_fate_store_links_followed_total).
  static bool AnyMoved(const std::vector<StoredFateKey>& queries, const FateStoreAnswer& answer);

  FateStoreClient& client_;
  const FateStoreGateCounters& counters_;
  const ReparentOptions reparent_;
  const FateStoreClientOptions& options_;
  uint64_t target_kinds_mask_ = 0;
  std::shared_ptr<FateStoreReplies> replies_;

  // Held back, by lookup id (increasing with arrival), and the ids in
  // arrival order (ids already released are skipped).
  absl::flat_hash_map<uint64_t, HeldBack> waiting_;
  std::deque<uint64_t> order_;
  // Admit's scratch: ids held back from the request being admitted.
  std::vector<uint64_t> held_in_request_;
  uint64_t next_id_ = 1;

  // Collected for the next Flush; publish_since_: when the first of
  // publish_ was decided (the time of the last Admit or Poll).
  std::vector<StoredFate> publish_;
  absl::Time publish_since_;
  absl::Time last_now_ = absl::InfinitePast();
  std::vector<FateStoreLookup> lookups_;
};

}  // namespace gateway
