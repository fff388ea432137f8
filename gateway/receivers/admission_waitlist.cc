#include "gateway/receivers/admission_waitlist.h"

#include <algorithm>
#include <utility>

#include "pipeline/base/thread_name.h"

namespace gateway {

AdmissionWaitlist::AdmissionWaitlist(Ingest& ingest, AdmissionWaitlistOptions options, Clock& clock,
                                     MetricsRegistry& metrics)
    : ingest_(ingest), options_(options), clock_(clock), counters_(metrics, "grpc") {
  if (options_.max_wait > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Run(); });
    SetThreadName(thread_, "admission-wait");
  }
}

AdmissionWaitlist::~AdmissionWaitlist() { Stop(); }

int64_t AdmissionWaitlist::Waiting() const { return queued_.load(std::memory_order_relaxed); }

void AdmissionWaitlist::Submit(Signal signal, std::string body, absl::Time client_deadline, Done done) {
  const auto park = [&](absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t bytes = static_cast<int64_t>(body.size());
    if (stopping_ || waiting_bytes_ + bytes > options_.max_waiting_bytes) return false;
    // Half of what the client has left, so that it hears the answer in time
    // to send again.
    const absl::Time until = std::min(now + options_.max_wait, now + (client_deadline - now) / 2);
    if (until <= now) return false;
    waiting_bytes_ += bytes;
    waiting_.push_back({signal, std::move(body), until, now, std::move(done)});
    queued_.fetch_add(1, std::memory_order_relaxed);
    return true;
  };
  if (options_.max_wait <= absl::ZeroDuration()) {
    done(ingest_.Accept(signal, std::move(body)));
    return;
  }
  // Nothing waits (nearly always): offered at once, without mu_, so that the
  // common case neither contends nor wakes the waitlist's thread. Racing with
  // a request being parked only bends the order by one; after Stop, an offer
  // with room is what Accept does, and one without falls through to Accept.
  if (queued_.load(std::memory_order_relaxed) == 0) {
    IngestResult result = ingest_.Offer(signal, &body);
    if (!result.no_room) {
      done(std::move(result));
      return;
    }
    MutexLock lock(&mu_);
    if (park(clock_.Now())) return;
    if (!stopping_) counters_.no_wait->Add();
  } else {
    // Behind whatever waits already, so that the oldest is admitted first.
    MutexLock lock(&mu_);
    if (!stopping_) {
      if (park(clock_.Now())) return;
      counters_.no_wait->Add();
    }
  }
  // The last offer: Accept counts a refusal as backpressure.
  done(ingest_.Accept(signal, std::move(body)));
}

void AdmissionWaitlist::Run() {
  while (true) {
    Parked head;
    bool last = false;
    {
      MutexLock lock(&mu_);
      mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // stopping, nothing left
      head = std::move(waiting_.front());
      waiting_.pop_front();
      last = stopping_;
    }
    const int64_t bytes = static_cast<int64_t>(head.body.size());
    const absl::Time now = clock_.Now();
    IngestResult result;
    bool waits_on = false;
    if (last || now >= head.until) {
      // The last offer: Accept counts a refusal as backpressure.
      (last ? counters_.shutdown : counters_.timed_out)->Add();
      result = ingest_.Accept(head.signal, std::move(head.body));
    } else {
      result = ingest_.Offer(head.signal, &head.body);
      waits_on = result.no_room;
      if (!waits_on) counters_.admitted->Add();
    }
    if (!waits_on) {
      // Free its bytes before answering, so that a request the answer
      // prompts finds them free.
      {
        MutexLock lock(&mu_);
        waiting_bytes_ -= bytes;
        queued_.fetch_sub(1, std::memory_order_relaxed);
      }
      counters_.waited_us->Add(absl::ToInt64Microseconds(now - head.since));
      head.done(std::move(result));
      continue;
    }

    {
      MutexLock lock(&mu_);
      waiting_.push_front(std::move(head));
      if (stopping_) continue;  // the last offers, at once
    }
    // Room comes back as exports finish: the release that makes room for
    // the head wakes this thread; `poll` bounds the wait (room that comes
    // back otherwise, e.g. as memory pressure ends, and a Stop meanwhile).
    ingest_.AwaitRoom(bytes, options_.poll);
  }
}

void AdmissionWaitlist::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace gateway
