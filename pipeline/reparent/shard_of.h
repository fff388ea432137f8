// Which shard owns a trace: the sharded engine routes a span to the shard of
// its original trace id, and a resolver asks that shard about link targets
// in traces it does not own.
//
//   const size_t shard = ShardOf(span.trace_id, shards);
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// A value in [0, shards); shards > 0.
inline size_t ShardOf(const TraceId& trace, size_t shards) {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::memcpy(&hi, trace.bytes.data(), 8);
  std::memcpy(&lo, trace.bytes.data() + 8, 8);
  // Trace ids are random (W3C), at least in their last bytes: no more
  // mixing is needed. Ids that differ only in their last three bytes (test
  // ids) all land in one shard.
  const uint64_t h = (hi ^ (lo * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
  return static_cast<size_t>((h >> 32) % shards);
}

}  // namespace gateway
