#include "pipeline/reparent/sharded_trace_engine.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "concurrentqueue/blockingconcurrentqueue.h"
#include "pipeline/base/cgroup.h"
#include "pipeline/base/sync.h"
#include "pipeline/base/thread_name.h"
#include "pipeline/reparent/engine_metrics.h"
#include "pipeline/reparent/fate_store_gate.h"
#include "pipeline/reparent/moved_filter.h"
#include "pipeline/reparent/peer_fates.h"
#include "pipeline/reparent/shard_of.h"
#include "pipeline/reparent/trace_resolver.h"

namespace gateway {
namespace {

constexpr size_t kRecentDecisions = 50;
// Work items a worker takes before it looks at the clock again.
constexpr int kMaxItemsPerWake = 64;
// Queued items a worker takes at a flush, at most, after the flush marker
// (those submitted before the flush but dequeued after its marker, plus any
// submitted meanwhile).
constexpr int kMaxItemsPerFlush = 1 << 20;
// At a flush, the longest consumers wait for the fate store's answers (the
// store answers within a round trip or says it is down; a fate still absent
// would be asked again only after 250 ms).
constexpr absl::Duration kFlushFateStoreWait = absl::Milliseconds(250);
// How often, at most, a worker with targets waiting for another shard to
// catch up (PeerAnswer::kNotYet) asks again when it has nothing else to do.
constexpr absl::Duration kPeerRecheck = absl::Milliseconds(1);

// By default half the CPUs the process may use: the receivers and the
// exporter (gzip) need the rest. On 2 cores one shard took 18-20 % less CPU
// per span than two, and accepted more (docs/performance.md).
size_t ShardCount(const ReparentOptions& options) {
  return options.shards > 0 ? static_cast<size_t>(options.shards) : static_cast<size_t>(std::max(1, UsableCpus() / 2));
}

// Counts down the shards that have not finished a Flush yet.
struct FlushBarrier {
  FlushBarrier(int shards, absl::Time deadline) : deadline(deadline), pending(shards) {}
  // The caller's (wall clock).
  const absl::Time deadline;
  Mutex mu;
  int pending ABSL_GUARDED_BY(mu);
};

// A shard's work item: spans of a request, or questions about the fates of
// its spans from another shard (`asker`), or the answers to its own.
struct Work {
  std::vector<SpanRef> spans;
  bool stop = false;
  // Owns the spans' buffer (one reference per shard's part of a request).
  std::shared_ptr<const RequestBuffer> buffer;
  // Non-null: a flush marker (no spans).
  std::shared_ptr<FlushBarrier> flush;
  std::vector<FateQuery> queries;
  uint32_t asker = 0;
  std::vector<FateAnswer> answers;
  // Spans of a request, when shards share their moved fates: this part's
  // place in its shard's order of submitted parts, and for every shard j
  // the ticket below which j's parts were submitted before this request
  // began or belong to it (its own part included).
  bool has_ticket = false;
  uint64_t ticket = 0;
  absl::InlinedVector<uint64_t, 4> horizon;
};

// Threading: Submit runs on any receiver thread and only enqueues. Each
// shard's queue is multi-producer (receivers, other shards' workers),
// single-consumer (its worker); the worker alone touches its resolver and
// batcher. A worker asks another shard about a link target by enqueuing a
// query on that shard's queue, and answers arrive on its own: no worker
// waits for another. Shared state is the metrics (atomics; each shard's
// worker publishes its own entries) and the decisions snapshot (per-shard
// mutex, taken only when a decision was made).
class ShardedTraceEngine final : public TraceEngine {
 public:
  ShardedTraceEngine(const ReparentOptions& options, const TraceBatcherOptions& batcher_options,
                     Exporter& exporter, MemoryBudget* budget, MetricsRegistry& metrics, const Clock& clock,
                     FateStoreClient* fate_store);
  ~ShardedTraceEngine() override { Shutdown(); }

  void Submit(ScannedTraceRequest request) override;
  bool Flush(absl::Time deadline) override;
  int64_t HeldSpans() const override { return metrics_.HeldSpans(); }
  std::vector<ReparentDecision> RecentDecisions() const override;
  void Shutdown() override;

 private:
  struct Shard;

  // A shard's resolver's view of the other shards (PeerFates): during the
  // request being processed, a link target of shard j's trace surely did
  // not move when j has finished every part submitted before the request,
  // and its part of the request (its watermark has reached the request's
  // horizon), and j's filter does not hold it.
  class Peers final : public PeerFates {
   public:
    explicit Peers(const std::vector<std::unique_ptr<Shard>>& shards) : shards_(shards) {}
    PeerAnswer Ask(const TraceId& trace, const SpanId& span, uint64_t* after) const override;
    PeerAnswer AskAgain(const TraceId& trace, const SpanId& span, uint64_t after) const override;
    uint64_t Progress(uint32_t shard) const override {
      return shards_[shard]->done_below.load(std::memory_order_acquire);
    }
    // The request being processed (null: none; nothing is answered).
    const absl::InlinedVector<uint64_t, 4>* horizon = nullptr;

   private:
    const std::vector<std::unique_ptr<Shard>>& shards_;
  };

  struct Shard {
    moodycamel::BlockingConcurrentQueue<Work> queue;
    // Sharing moved fates (shards > 1, link fates not waited for): the
    // resolver's moved fates, read by the other shards' workers; tickets
    // handed out by Submit (any thread); every ticket below done_below is
    // finished (stored by the worker with release, after its fates).
    std::unique_ptr<MovedFilter> filter;
    std::unique_ptr<Peers> peers;
    std::atomic<uint64_t> next_ticket{0};
    std::atomic<uint64_t> done_below{0};
    // Worker only: tickets finished out of order (the queue is FIFO per
    // producer only), a min-heap.
    std::vector<uint64_t> done_early;
    std::unique_ptr<TraceResolver> resolver;
    std::unique_ptr<TraceBatcher> batcher;
    // With a fate store: in front of the resolver. After `queue`, so that it
    // is destroyed first (its wake-ups enqueue there).
    std::unique_ptr<FateStoreGate> gate;
    // Route's scratch space (worker only).
    std::vector<FateQuery> queries;
    std::vector<FateAnswer> answers;
    int64_t decisions_published = 0;
    mutable Mutex mu;
    std::vector<ReparentDecision> decisions ABSL_GUARDED_BY(mu);
    std::thread thread;
  };

  void Run(size_t index);
  // Sends the questions and answers `index`'s resolver has produced.
  void Route(size_t index);
  void Publish(size_t index);
  // `index`'s worker has finished the part with `ticket`.
  void Finish(Shard& shard, uint64_t ticket);
  void ReleaseDirect(ScannedTraceRequest request);

  const ReparentOptions options_;
  const TraceBatcherOptions batcher_options_;
  Exporter& exporter_;
  MemoryBudget* const budget_;
  const Clock& clock_;
  EngineMetrics metrics_;
  std::vector<std::unique_ptr<Shard>> shards_;

  std::atomic<bool> stopping_{false};
  std::atomic<int> submitters_{0};
  std::once_flag shutdown_once_;
};

ShardedTraceEngine::ShardedTraceEngine(const ReparentOptions& options, const TraceBatcherOptions& batcher_options,
                                       Exporter& exporter, MemoryBudget* budget, MetricsRegistry& metrics,
                                       const Clock& clock, FateStoreClient* fate_store)
    : options_(options),
      batcher_options_(batcher_options),
      exporter_(exporter),
      budget_(budget),
      clock_(clock),
      metrics_(metrics, options, ShardCount(options)) {
  const size_t n = metrics_.shards();

  TraceResolverLimits limits;
  limits.max_held_spans = std::max<int64_t>(1, options.max_held_spans / static_cast<int64_t>(n));
  limits.max_resolved_spans = std::max<int64_t>(1, options.max_resolved_spans / static_cast<int64_t>(n));
  limits.max_table_bytes =
      options.max_table_bytes > 0 ? std::max<int64_t>(1, options.max_table_bytes / static_cast<int64_t>(n)) : 0;
  limits.recent_decisions = kRecentDecisions;
  limits.shards = static_cast<uint32_t>(n);
  // Shards share their moved fates when a question to the owner would not
  // wait anyway (docs/reparenting.md §8). The filters' bytes come out of
  // the tables' bound, at most a quarter of it.
  const bool share = n > 1 && !options.WaitsForLinkFate() && limits.max_resolved_spans > 0;
  size_t filter_bytes = 0;
  if (share) {
    filter_bytes = MovedFilter::BytesFor(std::max<int64_t>(1, limits.max_resolved_spans / 2));
    if (limits.max_table_bytes > 0) {
      while (filter_bytes > 64 && static_cast<int64_t>(2 * filter_bytes) > limits.max_table_bytes / 4) {
        filter_bytes /= 2;
      }
      limits.max_table_bytes = std::max<int64_t>(1, limits.max_table_bytes - 2 * static_cast<int64_t>(filter_bytes));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    limits.shard = static_cast<uint32_t>(i);
    auto shard = std::make_unique<Shard>();
    shard->resolver = std::make_unique<TraceResolver>(options, limits);
    if (share) {
      shard->filter = std::make_unique<MovedFilter>(filter_bytes);
      shard->resolver->ShareMovedFates(shard->filter.get());
      shard->peers = std::make_unique<Peers>(shards_);
      shard->resolver->AskPeersFirst(shard->peers.get());
    }
    shard->batcher = std::make_unique<TraceBatcher>(batcher_options, exporter, budget);
    if (fate_store != nullptr) {
      // An empty work item only wakes the worker (the queue takes any number
      // of producers; the client's thread is one more).
      shard->gate = std::make_unique<FateStoreGate>(*fate_store, options,
                                                    [queue = &shard->queue] { queue->enqueue(Work{}); });
      shard->resolver->ObserveFates(shard->gate.get(), fate_store->options().publish_kinds);
    }
    shards_.push_back(std::move(shard));
  }
  for (size_t i = 0; i < n; ++i) {
    shards_[i]->thread = std::thread([this, i] { Run(i); });
    SetThreadName(shards_[i]->thread, absl::StrCat("reparent-", i));
  }
}

void ShardedTraceEngine::Submit(ScannedTraceRequest request) {
  if (request.spans.empty()) return;
  // Paired with Shutdown: either Shutdown sees this submitter and waits for
  // it, or this submitter sees stopping_ (both sequentially consistent).
  submitters_.fetch_add(1);
  if (stopping_.load()) {
    submitters_.fetch_sub(1);
    ReleaseDirect(std::move(request));
    return;
  }
  const size_t n = shards_.size();
  if (n == 1) {
    Work work;
    work.spans = std::move(request.spans);
    work.buffer = std::move(request.buffer);
    shards_[0]->queue.enqueue(std::move(work));
  } else {
    std::vector<std::vector<SpanRef>> parts(n);
    // Trace ids spread evenly: a quarter more than the even share (plus a
    // few for small requests) spares nearly every part its regrowth copies.
    const size_t expected = request.spans.size() / n;
    for (std::vector<SpanRef>& part : parts) part.reserve(expected + expected / 4 + 8);
    for (SpanRef& span : request.spans) parts[ShardOf(span.trace_id, n)].push_back(std::move(span));
    // Tickets before any part is enqueued: a request submitted before this
    // one began has smaller tickets on every shard. The horizon includes
    // this request's own parts (a producer earlier in the same request is
    // decided before a consumer of it on another shard learns its fate).
    const bool share = shards_[0]->filter != nullptr;
    absl::InlinedVector<uint64_t, 4> horizon;
    if (share) {
      horizon.resize(n);
      for (size_t i = 0; i < n; ++i) {
        horizon[i] = parts[i].empty() ? shards_[i]->next_ticket.load() : shards_[i]->next_ticket.fetch_add(1) + 1;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (parts[i].empty()) continue;
      Work work;
      work.spans = std::move(parts[i]);
      work.buffer = request.buffer;
      if (share) {
        work.has_ticket = true;
        work.ticket = horizon[i] - 1;
        work.horizon = horizon;
      }
      shards_[i]->queue.enqueue(std::move(work));
    }
  }
  submitters_.fetch_sub(1);
}

void ShardedTraceEngine::ReleaseDirect(ScannedTraceRequest request) {
  TraceBatcher batcher(batcher_options_, exporter_, budget_);
  const absl::Time now = clock_.Now();
  for (const SpanRef& span : request.spans) batcher.Add(OutputSpan::Unchanged(span, request.buffer), now);
  batcher.Flush();
  metrics_.CountReleasedAtShutdown(static_cast<int64_t>(request.spans.size()));
}

void ShardedTraceEngine::Run(size_t index) {
  Shard& shard = *shards_[index];
  TraceResolver& resolver = *shard.resolver;
  TraceBatcher& batcher = *shard.batcher;
  FateStoreGate* const gate = shard.gate.get();
  std::vector<SpanRef> pass;
  std::vector<OutputSpan> out;
  auto emit = [&](absl::Time now) {
    for (OutputSpan& span : out) batcher.Add(std::move(span), now);
    out.clear();
  };
  auto process = [&](Work& work) {
    const absl::Time now = clock_.Now();
    if (work.has_ticket) shard.peers->horizon = &work.horizon;
    if (!work.spans.empty()) {
      if (gate != nullptr && gate->Admit(work.buffer, work.spans, now, &pass)) {
        // Consumers wait in the gate for the fate store's answer.
        resolver.ProcessRequest(work.buffer, pass, now, &out);
        pass.clear();
      } else {
        resolver.ProcessRequest(work.buffer, work.spans, now, &out);
      }
    }
    for (const FateQuery& query : work.queries) resolver.AnswerQuery(query, work.asker, now);
    for (const FateAnswer& answer : work.answers) {
      resolver.LearnFate(answer.trace, answer.span, answer.known ? &answer.fate : nullptr, now, &out);
    }
    if (work.has_ticket) {
      shard.peers->horizon = nullptr;
      // After the part's fates went into the filter.
      Finish(shard, work.ticket);
      work.has_ticket = false;
    }
    if (resolver.HasPeerWaits()) resolver.RecheckPeers(now, &out);
    work.spans.clear();
    work.queries.clear();
    work.answers.clear();
    work.buffer.reset();  // outputs and held spans keep their own references
    emit(now);
    if (shards_.size() > 1) Route(index);
  };

  // Flush markers taken and not yet answered.
  std::vector<std::shared_ptr<FlushBarrier>> flushes;
  auto take = [&](Work& work, bool* stop) {
    if (work.stop) *stop = true;
    if (work.flush != nullptr) flushes.push_back(std::move(work.flush));
    process(work);
  };

  Work work;
  bool stop = false;
  while (!stop) {
    absl::Time now = clock_.Now();
    absl::Time next = std::min(resolver.NextExpiry(), batcher.Deadline());
    if (gate != nullptr) next = std::min(next, gate->NextDeadline());
    // Targets waiting for another shard to catch up look again soon (that
    // shard does not wake this one).
    const absl::Duration tick =
        resolver.HasPeerWaits() ? std::min(options_.worker_tick, kPeerRecheck) : options_.worker_tick;
    const absl::Duration wait = std::clamp(next - now, absl::ZeroDuration(), tick);
    bool got = shard.queue.wait_dequeue_timed(work, absl::ToInt64Microseconds(wait));
    for (int taken = 0; got; ++taken) {
      take(work, &stop);
      if (taken + 1 >= kMaxItemsPerWake) break;
      got = shard.queue.try_dequeue(work);
    }
    if (!flushes.empty() && !stop) {
      // The queue is multi-producer: a request submitted before the flush
      // may sit behind its marker, so everything queued now goes first.
      for (int taken = 0; taken < kMaxItemsPerFlush && shard.queue.try_dequeue(work); ++taken) take(work, &stop);
      if (gate != nullptr) {
        // Nothing waits past the end of an invoke, for the fate store
        // either; but consumers waiting for its answers get them first
        // (briefly: a Lambda invocation's flush is billed time).
        absl::Time until = absl::Now() + kFlushFateStoreWait;
        for (const auto& barrier : flushes) until = std::min(until, barrier->deadline);
        gate->Settle(until, clock_, resolver, &out);
      }
      resolver.ReleaseAllForFlush(&out);
      emit(clock_.Now());
      batcher.Flush();
    }
    if (stop) {
      // Every Submit finished before the stop marker was enqueued, so what
      // is left is visible now; a bounded number of items.
      while (shard.queue.try_dequeue(work)) take(work, &stop);
      if (gate != nullptr) {
        gate->Poll(clock_.Now(), resolver, &out);
        gate->ReleaseAll(clock_.Now(), resolver, &out);
      }
      resolver.ReleaseAll(&out);
      emit(clock_.Now());
      batcher.Flush();
    } else {
      now = clock_.Now();
      if (gate != nullptr) gate->Poll(now, resolver, &out);
      resolver.RecheckPeers(now, &out);
      resolver.Expire(now, &out);
      emit(now);
      if (shards_.size() > 1) Route(index);
      batcher.FlushIfDue(now);
    }
    if (gate != nullptr) gate->Flush(clock_.Now(), /*force=*/stop);
    Publish(index);
    // After the batches went to the exporter (the stop path flushes too).
    for (const std::shared_ptr<FlushBarrier>& barrier : flushes) {
      MutexLock lock(&barrier->mu);
      --barrier->pending;
    }
    flushes.clear();
  }
}

PeerAnswer ShardedTraceEngine::Peers::Ask(const TraceId& trace, const SpanId& span, uint64_t* after) const {
  if (horizon == nullptr) return PeerAnswer::kAskOwner;
  *after = (*horizon)[ShardOf(trace, shards_.size())];
  return AskAgain(trace, span, *after);
}

PeerAnswer ShardedTraceEngine::Peers::AskAgain(const TraceId& trace, const SpanId& span, uint64_t after) const {
  const Shard& owner = *shards_[ShardOf(trace, shards_.size())];
  // Acquire: the owner's fates of everything before `after` are in its
  // filter.
  if (owner.done_below.load(std::memory_order_acquire) < after) return PeerAnswer::kNotYet;
  return owner.filter->MayContain(FateFingerprint(FateKey{trace, span})) ? PeerAnswer::kAskOwner
                                                                         : PeerAnswer::kUnmoved;
}

void ShardedTraceEngine::Finish(Shard& shard, uint64_t ticket) {
  const uint64_t below = shard.done_below.load(std::memory_order_relaxed);
  if (ticket != below) {
    shard.done_early.push_back(ticket);
    std::push_heap(shard.done_early.begin(), shard.done_early.end(), std::greater<>());
    return;
  }
  uint64_t next = ticket + 1;
  while (!shard.done_early.empty() && shard.done_early.front() == next) {
    std::pop_heap(shard.done_early.begin(), shard.done_early.end(), std::greater<>());
    shard.done_early.pop_back();
    ++next;
  }
  shard.done_below.store(next, std::memory_order_release);
}

void ShardedTraceEngine::Route(size_t index) {
  Shard& shard = *shards_[index];
  shard.queries.clear();
  shard.answers.clear();
  shard.resolver->TakeQueries(&shard.queries);
  shard.resolver->TakeAnswers(&shard.answers);
  if (shard.queries.empty() && shard.answers.empty()) return;
  const size_t n = shards_.size();
  // One work item per destination shard.
  std::vector<Work> to(n);
  for (const FateQuery& query : shard.queries) to[ShardOf(query.trace, n)].queries.push_back(query);
  for (const FateAnswer& answer : shard.answers) to[answer.asker].answers.push_back(answer);
  for (size_t i = 0; i < n; ++i) {
    if (to[i].queries.empty() && to[i].answers.empty()) continue;
    to[i].asker = static_cast<uint32_t>(index);
    shards_[i]->queue.enqueue(std::move(to[i]));
  }
}

void ShardedTraceEngine::Publish(size_t index) {
  Shard& shard = *shards_[index];
  metrics_.Publish(index, *shard.resolver, shard.filter != nullptr ? shard.filter->Bytes() : 0);
  const int64_t decisions = shard.resolver->stats().decisions;
  if (decisions != shard.decisions_published) {
    const auto& recent = shard.resolver->RecentDecisions();
    MutexLock lock(&shard.mu);
    shard.decisions.assign(recent.begin(), recent.end());
    shard.decisions_published = decisions;
  }
}

std::vector<ReparentDecision> ShardedTraceEngine::RecentDecisions() const {
  std::vector<ReparentDecision> all;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    all.insert(all.end(), shard->decisions.begin(), shard->decisions.end());
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const ReparentDecision& a, const ReparentDecision& b) { return a.time < b.time; });
  if (all.size() > kRecentDecisions) all.erase(all.begin(), all.end() - kRecentDecisions);
  return all;
}

bool ShardedTraceEngine::Flush(absl::Time deadline) {
  // After Shutdown every span has gone out (or goes out at once in Submit).
  if (stopping_.load()) return true;
  auto barrier = std::make_shared<FlushBarrier>(static_cast<int>(shards_.size()), deadline);
  for (auto& shard : shards_) shard->queue.enqueue(Work{{}, false, nullptr, barrier});
  MutexLock lock(&barrier->mu);
  return barrier->mu.AwaitWithDeadline([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(barrier->mu) { return barrier->pending == 0; },
                                       deadline);
}

void ShardedTraceEngine::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    stopping_.store(true);
    // Submit only enqueues, so this wait is short; bounded by the yield count
    // as a guard against a caller stuck inside Submit.
    for (int i = 0; i < 10'000'000 && submitters_.load() != 0; ++i) std::this_thread::yield();
    for (auto& shard : shards_) {
      Work stop;
      stop.stop = true;
      shard->queue.enqueue(std::move(stop));
    }
    for (auto& shard : shards_) {
      if (shard->thread.joinable()) shard->thread.join();
    }
  });
}

}  // namespace

std::unique_ptr<TraceEngine> NewShardedTraceEngine(const ReparentOptions& options,
                                                   const TraceBatcherOptions& batcher_options, Exporter& exporter,
                                                   MemoryBudget* budget, MetricsRegistry& metrics,
                                                   const Clock& clock, FateStoreClient* fate_store) {
  return std::make_unique<ShardedTraceEngine>(options, batcher_options, exporter, budget, metrics, clock,
                                              fate_store);
}

}  // namespace gateway
