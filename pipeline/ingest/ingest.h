// The seam between the receivers and everything behind them.
//
// A receiver hands over one serialized Export{Traces,Metrics,Logs}ServiceRequest
// (protobuf wire form; OTLP/JSON is converted at the edge) and maps the result
// to a gRPC status or HTTP code:
//
//   IngestResult r = ingest.Accept(Signal::kTraces, std::move(body));
//   switch (r.outcome) {
//     case IngestOutcome::kAccepted:   ... // 200 / OK (partial_success if r.rejected_items)
//     case IngestOutcome::kInvalid:    ... // 400 / INVALID_ARGUMENT, r.message says why
//     case IngestOutcome::kOverloaded: ... // 503 + Retry-After / UNAVAILABLE
//     case IngestOutcome::kShuttingDown: ... // 503 / UNAVAILABLE
//   }
//
// kAccepted is a promise: from then on the pipeline owns the data and delivers
// it or counts it as given up; it is never dropped silently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "pipeline/base/signal.h"

namespace gateway {

enum class IngestOutcome : uint8_t {
  kAccepted = 0,
  // The body is not a valid request of that signal.
  kInvalid = 1,
  // The pipeline is full; the client should retry after retry_after.
  kOverloaded = 2,
  // The gateway is draining and accepts nothing new.
  kShuttingDown = 3,
};

struct IngestResult {
  IngestOutcome outcome = IngestOutcome::kAccepted;
  // With kAccepted: items (spans, data points, log records) that were not
  // accepted, for the response's partial_success. Zero normally.
  int64_t rejected_items = 0;
  // Human-readable reason for kInvalid, or for a partial success.
  std::string message;
  // With kOverloaded: how long the client should wait.
  absl::Duration retry_after = absl::Seconds(1);
  // With kOverloaded: refused before the request was read, for lack of room
  // in the memory budget (not for memory pressure, a full persistent queue
  // or shutdown), so room may come back within milliseconds as exports
  // finish. Offer leaves such a request with its caller.
  bool no_room = false;
};

// Bytes of the memory budget held for one request body while a receiver
// reads it; they go back when the hold is destroyed. One connection uses a
// hold at a time: not thread-safe.
class ReceiveHold {
 public:
  virtual ~ReceiveHold() = default;
  // Grows what is held to `bytes` in total (a smaller value changes
  // nothing). False when the budget has no room for the difference; what
  // was held stays held until the hold is destroyed.
  virtual bool GrowTo(int64_t bytes) = 0;
  // True while GrowTo(bytes) would fail only because the memory budget has
  // no room for the difference now (as Ingest::NoRoomYet): the reader may
  // pause and let room come back. Default: never.
  virtual bool NoRoomYetToGrowTo(int64_t bytes) const { return false; }
};

class Ingest {
 public:
  virtual ~Ingest() = default;

  // Takes ownership of `request`. Thread-safe; called concurrently from every
  // receiver thread. Never waits on the export path (Dynatrace, the engine's
  // queues). With a persistent queue it does wait for the disk: the request
  // is durable before kAccepted is returned, so the calling thread waits for
  // one fdatasync, shared by the Accepts that arrive meanwhile (group
  // commit): ~0.3 ms for a 64 KiB request on the development machine's disk
  // (bench/persistent_queue_benchmark, docs/architecture.md).
  virtual IngestResult Accept(Signal signal, std::string request) = 0;

  // Accept for a caller that may offer the request again: when the result
  // has `no_room`, `*request` is left as it was and the refusal is not
  // counted as backpressure (the caller ends with Accept, which counts);
  // otherwise it is consumed as by Accept. Thread-safe. Default: Accept of
  // a copy, consumed only when the copy was not refused for room.
  virtual IngestResult Offer(Signal signal, std::string* request) {
    IngestResult result = Accept(signal, *request);
    if (!result.no_room) request->clear();
    return result;
  }

  // True while the pipeline would accept a request of `bytes`; for readiness.
  virtual bool Ready() const = 0;

  // Holds memory budget for a request body a receiver is about to read,
  // starting at `bytes` and grown (ReceiveHold::GrowTo) as the body arrives,
  // so that a body counts for what it has in memory, not for what its
  // headers announce: connections that announce 16 MiB and send nothing
  // hold nothing. Null when there is no room (the receiver answers
  // "overloaded" without reading the body). Drop it before calling Accept,
  // which admits the decoded request itself. Thread-safe. Default: always
  // room.
  virtual std::unique_ptr<ReceiveHold> HoldForReceive(int64_t bytes) {
    struct Unbounded final : ReceiveHold {
      bool GrowTo(int64_t) override { return true; }
    };
    return std::make_unique<Unbounded>();
  }

  // True while a request of about `bytes` would be refused only because the
  // memory budget has no room for it now (not for process memory pressure,
  // not while shutting down): room comes back by itself as exports finish,
  // so a receiver may let the request wait for it. Thread-safe. Default:
  // never.
  virtual bool NoRoomYet(int64_t bytes) const { return false; }

  // Returns when a request of about `bytes` may have room again (the memory
  // budget released enough bytes) or after `timeout`, whichever is first:
  // for a caller that offers a request again after a `no_room` refusal
  // (AdmissionWaitlist), so that it neither polls nor waits longer than
  // needed. Returning early is allowed; the caller offers again. Thread-safe.
  // Default: waits `timeout`.
  virtual void AwaitRoom(int64_t bytes, absl::Duration timeout) { absl::SleepFor(timeout); }
};

}  // namespace gateway
