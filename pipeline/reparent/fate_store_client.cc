#include "pipeline/reparent/fate_store_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/thread_name.h"

namespace gateway {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(250);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
// Items taken from the queue before the client looks at the store again.
constexpr int kMaxItemsPerWake = 256;

}  // namespace

void FateStoreReplies::Deliver(FateStoreAnswer answer) {
  MutexLock lock(&mu_);
  if (closed_) return;
  answers_.push_back(std::move(answer));
  // Only on the first answer waiting: the consumer takes them all at once.
  // Under the lock, so that Close waits for it.
  if (answers_.size() == 1 && wake_) wake_();
}

void FateStoreReplies::WaitForAnswer(absl::Time deadline) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !answers_.empty() || closed_; },
                        deadline);
}

bool FateStoreReplies::TryTake(FateStoreAnswer* answer) {
  MutexLock lock(&mu_);
  if (answers_.empty()) return false;
  *answer = std::move(answers_.front());
  answers_.pop_front();
  return true;
}

void FateStoreReplies::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  answers_.clear();
}

FateStoreClient::FateStoreClient(const FateStoreClientOptions& options, std::unique_ptr<FateStore> store,
                                 MetricsRegistry& metrics, const Clock& clock)
    : options_(options),
      store_(std::move(store)),
      clock_(clock),
      description_(store_->Describe()),
      backoff_(kInitialBackoff) {
  const std::string trips = "gateway_fate_store_round_trips_total";
  const std::string trips_help = "Round trips to the fate store (each pipelines its publishes and lookups)";
  round_trips_ok_ = metrics.GetCounter(trips, trips_help, {{"result", "ok"}});
  round_trips_failed_ = metrics.GetCounter(trips, trips_help, {{"result", "error"}});
  published_ = metrics.GetCounter("gateway_fate_store_published_total",
                                  "Fates of spans this gateway decided, stored for other gateways");
  publish_dropped_ = metrics.GetCounter("gateway_fate_store_publish_dropped_total",
                                        "Fates not published: more were waiting for the store than it keeps");
  const std::string lookups = "gateway_fate_store_lookups_total";
  const std::string lookups_help = "Link targets whose fate was looked up, by where the answer came from";
  lookups_found_ = metrics.GetCounter(lookups, lookups_help, {{"result", "found"}});
  lookups_cached_ = metrics.GetCounter(lookups, lookups_help, {{"result", "cached"}});
  lookups_absent_ = metrics.GetCounter(lookups, lookups_help, {{"result", "absent"}});
  lookups_unavailable_ = metrics.GetCounter(lookups, lookups_help, {{"result", "unavailable"}});
  const std::string degraded = "gateway_fate_store_degraded_total";
  const std::string degraded_help =
      "Consumer spans decided without the fate store's answer (as without a store), by why";
  gate_counters_.degraded_unavailable = metrics.GetCounter(degraded, degraded_help, {{"reason", "unavailable"}});
  gate_counters_.degraded_timeout = metrics.GetCounter(degraded, degraded_help, {{"reason", "timeout"}});
  gate_counters_.degraded_overflow = metrics.GetCounter(degraded, degraded_help, {{"reason", "overflow"}});
  gate_counters_.degraded_shutdown = metrics.GetCounter(degraded, degraded_help, {{"reason", "shutdown"}});
  gate_counters_.degraded_flush = metrics.GetCounter(degraded, degraded_help, {{"reason", "flush"}});
  gate_counters_.waits = metrics.GetCounter("gateway_fate_store_waits_total",
                                            "Consumer spans that waited for the fate store's answer");
  gate_counters_.wait_micros = metrics.GetCounter(
      "gateway_fate_store_wait_microseconds_total",
      "Time consumer spans waited for the fate store's answer (divide by gateway_fate_store_waits_total)");
  gate_counters_.learned = metrics.GetCounter("gateway_fate_store_fates_learned_total",
                                              "Moved link targets learned from the fate store");
  gate_counters_.followed = metrics.GetCounter(
      "gateway_fate_store_links_followed_total",
      "Consumer spans placed under a producer that another gateway had moved (its new trace from the store)");
  gate_counters_.waiting = &waiting_;
  metrics.AddGauge("gateway_fate_store_up", "1 while the last round trip to the fate store succeeded", {},
                   [this] { return up_published_.load(std::memory_order_relaxed) ? 1.0 : 0.0; });
  metrics.AddGauge("gateway_fate_store_waiting_spans", "Consumer spans waiting for the fate store's answer", {},
                   [this] { return static_cast<double>(waiting_.load(std::memory_order_relaxed)); });
  thread_ = std::thread([this] { Run(); });
  SetThreadName(thread_, "fate-store");
}

void FateStoreClient::Submit(std::vector<StoredFate> publish, std::vector<FateStoreLookup> lookups) {
  if (publish.empty() && lookups.empty()) return;
  if (stopped_.load()) {
    for (FateStoreLookup& lookup : lookups) {
      FateStoreAnswer answer{lookup.id, FateStoreAnswer::Outcome::kUnavailable, {}};
      answer.fates.resize(lookup.queries.size());
      lookup.reply_to->Deliver(std::move(answer));
    }
    return;
  }
  queue_.enqueue(Item{std::move(publish), std::move(lookups), false, nullptr});
}

bool FateStoreClient::Flush(absl::Time deadline) {
  if (stopped_.load()) return false;
  auto waiter = std::make_shared<FlushWaiter>();
  queue_.enqueue(Item{{}, {}, false, waiter});
  return waiter->done.WaitForNotificationWithTimeout(deadline - absl::Now()) && waiter->sent.load();
}

void FateStoreClient::Shutdown() {
  if (stopped_.exchange(true)) return;
  queue_.enqueue(Item{{}, {}, true, nullptr});
  if (thread_.joinable()) thread_.join();
}

FateStoreSnapshot FateStoreClient::Snapshot() const {
  FateStoreSnapshot s;
  s.store = description_;
  s.up = up_published_.load(std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    s.last_error = last_error_;
  }
  s.round_trips = round_trips_ok_->Value() + round_trips_failed_->Value();
  s.round_trip_errors = round_trips_failed_->Value();
  s.published = published_->Value();
  s.lookups_found = lookups_found_->Value() + lookups_cached_->Value();
  s.lookups_absent = lookups_absent_->Value();
  s.degraded = gate_counters_.degraded_unavailable->Value() + gate_counters_.degraded_timeout->Value() +
               gate_counters_.degraded_overflow->Value() + gate_counters_.degraded_shutdown->Value();
  s.waiting = waiting_.load(std::memory_order_relaxed);
  return s;
}

void FateStoreClient::Remember(const StoredFateKey& query, const TraceId& new_trace) {
  if (options_.cache_entries == 0) return;
  if (cache_.size() >= options_.cache_entries) cache_.clear();
  cache_.insert_or_assign(query, new_trace);
}

void FateStoreClient::Take(Item& item, absl::Time now) {
  if (publishes_.empty()) publishes_since_ = now;
  for (StoredFate& record : item.publish) {
    Remember(record.query, record.new_trace);
    publishes_.push_back(record);
  }
  while (publishes_.size() > options_.max_pending_publishes) {
    publishes_.pop_front();
    publish_dropped_->Add();
  }
  for (FateStoreLookup& lookup : item.lookups) {
    Pending pending{std::move(lookup), {}, now + options_.lookup_linger};
    pending.fates.resize(pending.lookup.queries.size());
    if (FillFromCache(&pending)) {
      Answer(pending, FateStoreAnswer::Outcome::kAnswered);
    } else {
      pending_.push_back(std::move(pending));
    }
  }
  if (item.flush != nullptr) flushes_.push_back(std::move(item.flush));
  item.publish.clear();
  item.lookups.clear();
}

bool FateStoreClient::FillFromCache(Pending* pending) {
  bool all = true;
  for (size_t i = 0; i < pending->fates.size(); ++i) {
    if (pending->fates[i].has_value()) continue;
    auto it = cache_.find(pending->lookup.queries[i]);
    if (it != cache_.end()) {
      pending->fates[i] = it->second;
      lookups_cached_->Add();
    } else {
      all = false;
    }
  }
  return all;
}

void FateStoreClient::Answer(Pending& pending, FateStoreAnswer::Outcome outcome) {
  for (const std::optional<TraceId>& fate : pending.fates) {
    if (fate.has_value()) continue;
    (outcome == FateStoreAnswer::Outcome::kAnswered ? lookups_absent_ : lookups_unavailable_)->Add();
  }
  pending.lookup.reply_to->Deliver(FateStoreAnswer{pending.lookup.id, outcome, std::move(pending.fates)});
}

void FateStoreClient::AnswerAllUnavailable() {
  for (Pending& pending : pending_) Answer(pending, FateStoreAnswer::Outcome::kUnavailable);
  pending_.clear();
}

void FateStoreClient::SetDown(const absl::Status& error, absl::Time now) {
  if (up_) {
    LogWarn("fate_store_down", {{"store", description_}, {"error", std::string(error.message())}});
    backoff_ = kInitialBackoff;
  } else {
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  }
  up_ = false;
  up_published_.store(false, std::memory_order_relaxed);
  next_attempt_ = now + backoff_;
  MutexLock lock(&mu_);
  last_error_ = std::string(error.message());
}

bool FateStoreClient::Exchange(absl::Time now) {
  // The queries due, each once (several lookups may ask the same one).
  asked_.clear();
  absl::flat_hash_map<StoredFateKey, size_t> index;
  const size_t publish_share = std::min(publishes_.size(), std::max<size_t>(1, options_.max_batch / 2));
  const size_t lookup_budget = options_.max_batch > publish_share ? options_.max_batch - publish_share : 0;
  for (Pending& pending : pending_) {
    // Lookups never asked ride along with any round trip; the others wait
    // for their retry time.
    if (pending.asked_once && pending.next_ask > now) continue;
    for (size_t i = 0; i < pending.fates.size() && asked_.size() < lookup_budget; ++i) {
      if (pending.fates[i].has_value()) continue;
      if (index.emplace(pending.lookup.queries[i], asked_.size()).second) asked_.push_back(pending.lookup.queries[i]);
    }
  }
  const size_t publish_count = std::min(publishes_.size(), options_.max_batch - asked_.size());
  if (asked_.empty() && publish_count == 0 && up_) return false;
  std::vector<StoredFate> publish(publishes_.begin(), publishes_.begin() + static_cast<ptrdiff_t>(publish_count));

  const absl::Status status = store_->RoundTrip(publish, options_.ttl, asked_, options_.timeout, &found_);
  now = clock_.Now();
  if (!status.ok()) {
    round_trips_failed_->Add();
    SetDown(status, now);
    AnswerAllUnavailable();
    return true;
  }
  round_trips_ok_->Add();
  if (!up_) {
    LogInfo("fate_store_up", {{"store", description_}});
    up_ = true;
    up_published_.store(true, std::memory_order_relaxed);
  }
  publishes_.erase(publishes_.begin(), publishes_.begin() + static_cast<ptrdiff_t>(publish_count));
  publishes_since_ = now;
  published_->Add(static_cast<int64_t>(publish_count));
  for (size_t i = 0; i < asked_.size(); ++i) {
    if (!found_[i].has_value()) continue;
    lookups_found_->Add();
    Remember(asked_[i], *found_[i]);
  }
  // Each pending lookup: answered when all is known or its time is up.
  size_t kept = 0;
  for (size_t p = 0; p < pending_.size(); ++p) {
    Pending& pending = pending_[p];
    bool all = true;
    bool asked = true;
    for (size_t i = 0; i < pending.fates.size(); ++i) {
      if (pending.fates[i].has_value()) continue;
      auto it = index.find(pending.lookup.queries[i]);
      if (it == index.end()) {
        asked = false;
        all = false;
      } else if (found_[it->second].has_value()) {
        pending.fates[i] = found_[it->second];
      } else {
        all = false;
      }
    }
    // Asked and still missing some: again after the retry interval. Not
    // (wholly) asked for want of room in the batch: at the next round trip.
    if (asked) {
      pending.next_ask = now + options_.retry_interval;
      pending.asked_once = true;
    }
    if (all || pending.next_ask >= pending.lookup.deadline) {
      Answer(pending, FateStoreAnswer::Outcome::kAnswered);
    } else {
      if (kept != p) pending_[kept] = std::move(pending);
      ++kept;
    }
  }
  pending_.resize(kept);
  return true;
}

absl::Time FateStoreClient::NextRoundTrip() const {
  absl::Time next = absl::InfiniteFuture();
  if (!publishes_.empty()) {
    next = publishes_.size() >= options_.max_batch / 2 ? absl::InfinitePast()
                                                         : publishes_since_ + options_.publish_linger;
  }
  for (const Pending& pending : pending_) next = std::min(next, pending.next_ask);
  return next;
}

void FateStoreClient::Run() {
  Item item;
  bool stop = false;
  while (!stop) {
    absl::Time now = clock_.Now();
    // Sleep until something is due: a lookup to ask (again), publishes to
    // send, a reconnect to try; at most a tick.
    absl::Time next = now + options_.tick;
    if (up_) {
      next = std::min(next, NextRoundTrip());
    } else if (!publishes_.empty()) {
      next = std::min(next, next_attempt_);
    }
    const absl::Duration wait = std::clamp(next - now, absl::ZeroDuration(), options_.tick);
    bool got;
    if (up_ && wait > absl::ZeroDuration() && wait <= std::max(options_.lookup_linger, options_.publish_linger)) {
      // Lingering for lookups to share a round trip: asleep, not woken by
      // each arrival; what arrived is taken after.
      absl::SleepFor(wait);
      got = queue_.try_dequeue(item);
    } else {
      got = queue_.wait_dequeue_timed(item, absl::ToInt64Microseconds(wait));
    }
    now = clock_.Now();
    for (int taken = 0; got; ++taken) {
      if (item.stop) stop = true;
      Take(item, now);
      if (taken + 1 >= kMaxItemsPerWake) break;
      got = queue_.try_dequeue(item);
    }
    if (stop) break;
    if (!flushes_.empty()) {
      // Items other threads queued before the flush may sit behind its
      // marker (the queue orders each producer's items only): take them
      // too, then send everything now, lingering or not.
      for (int taken = 0; taken < kMaxItemsPerWake && queue_.try_dequeue(item); ++taken) {
        if (item.stop) stop = true;
        Take(item, clock_.Now());
      }
      bool sent = up_ || clock_.Now() >= next_attempt_;
      for (int i = 0; i < 64 && sent && (!publishes_.empty() || !pending_.empty()); ++i) {
        Exchange(clock_.Now());
        sent = up_;
        if (publishes_.empty()) break;
      }
      for (const auto& waiter : flushes_) {
        waiter->sent.store(sent && publishes_.empty());
        waiter->done.Notify();
      }
      flushes_.clear();
      if (stop) break;
    }
    if (!up_) {
      // Down: nobody waits for the store; a reconnect is tried with the
      // publishes (or alone) once the backoff has passed.
      AnswerAllUnavailable();
      if (now < next_attempt_) continue;
    } else if (NextRoundTrip() > now) {
      continue;  // lingering for more to share the round trip
    }
    Exchange(now);
  }
  // Shutdown: what is still queued, then one round trip for the publishes
  // (a Lambda extension's last chance to hand its fates on).
  while (queue_.try_dequeue(item)) Take(item, clock_.Now());
  AnswerAllUnavailable();
  if (!publishes_.empty()) Exchange(clock_.Now());
  AnswerAllUnavailable();
  for (const auto& waiter : flushes_) waiter->done.Notify();
  flushes_.clear();
}

}  // namespace gateway
