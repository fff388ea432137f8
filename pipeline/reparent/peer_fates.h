// What a resolver may learn about the fates of other shards' spans without
// asking their owners: the sharded engine's view of each shard's shared
// MovedFilter and of how far that shard has got (sharded_trace_engine.cc);
// tests use fakes.
//
//   class Peers final : public PeerFates { ... };
//   resolver.AskPeersFirst(&peers);
//   uint64_t after = 0;
//   switch (peers.Ask(trace, span, &after)) {
//     case PeerAnswer::kUnmoved: ...                 // decide now
//     case PeerAnswer::kAskOwner: ...                // a FateQuery
//     case PeerAnswer::kNotYet: ... once peers.Progress(owner) >= after:
//                                   peers.AskAgain(trace, span, after)
//   }
#pragma once

#include <cstdint>

#include "pipeline/otlp/trace_ids.h"

namespace gateway {

enum class PeerAnswer : uint8_t {
  // The owner surely does not remember the span as moved, and it has
  // processed every span submitted before the request being processed, and
  // its own part of that request: the answer the owner would give to a
  // question that does not wait.
  kUnmoved,
  // It may have moved: only the owner can say (FateQuery).
  kAskOwner,
  // The owner has not processed all that yet: ask again (AskAgain) once it
  // may have.
  kNotYet,
};

class PeerFates {
 public:
  virtual ~PeerFates() = default;

  // About span `span` of trace `trace` (another shard's), during the
  // request being processed. kNotYet sets *after for AskAgain. kAskOwner
  // also when no request is being processed. Called on the resolver's
  // thread; must not block.
  virtual PeerAnswer Ask(const TraceId& trace, const SpanId& span, uint64_t* after) const = 0;
  // The same question again, with Ask's *after: kNotYet until
  // Progress(owner of `trace`) reaches `after`.
  virtual PeerAnswer AskAgain(const TraceId& trace, const SpanId& span, uint64_t after) const = 0;
  // How far shard `shard` has got: AskAgain with an `after` of at most
  // this no longer answers kNotYet. Never decreases.
  virtual uint64_t Progress(uint32_t shard) const = 0;
};

}  // namespace gateway
