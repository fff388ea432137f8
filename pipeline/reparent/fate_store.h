// The fate store seam: where gateways that do not share a process tell each
// other where they moved the spans that consumers link to (issue #19; rules
// in docs/reparenting.md, "Across gateways").
//
// A fate is (original trace id, span id) -> the trace id the span went out
// with (its original one when it went out unchanged). One call is one round
// trip: it writes fates and reads others, pipelined.
//
//   std::unique_ptr<FateStore> store = NewRedisFateStore(redis_options);
//   std::vector<std::optional<TraceId>> found;
//   absl::Status s = store->RoundTrip(publish, absl::Minutes(10), lookup, absl::Milliseconds(200), &found);
//   if (s.ok() && found[0].has_value()) { ... *found[0] is where lookup[0] went ... }
//
// Implementations: RedisFateStore (redis_fate_store.h); a fake for tests
// (tests/fakes/fake_fate_store.h). FateStoreClient (fate_store_client.h)
// is the only caller in the gateway.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

// Which span: its trace id as received, and its span id.
struct StoredFateKey {
  TraceId original_trace;
  SpanId span;

  friend bool operator==(const StoredFateKey& a, const StoredFateKey& b) {
    return a.original_trace == b.original_trace && a.span == b.span;
  }
  template <typename H>
  friend H AbslHashValue(H h, const StoredFateKey& q) {
    return H::combine(std::move(h), q.original_trace, q.span);
  }
};

// Where it went: new_trace == query.original_trace when it went out
// unchanged.
struct StoredFate {
  StoredFateKey query;
  TraceId new_trace;
};

class FateStore {
 public:
  virtual ~FateStore() = default;

  // One round trip: stores every fate of `publish`, each expiring after
  // `ttl`, and reads every fate of `lookup`. On OK, `found` has
  // lookup.size() entries, (*found)[i] the fate of lookup[i] or nullopt when
  // the store has none. On an error (kUnavailable: no connection, refused,
  // reset; kDeadlineExceeded: `timeout` passed; kPermissionDenied: AUTH
  // refused) nothing is known about either list: some publishes may have
  // been stored. Blocks for at most about `timeout`, plus the
  // implementation's own connect timeout when it has to (re)connect first.
  // Not thread-safe: one caller at a time.
  virtual absl::Status RoundTrip(absl::Span<const StoredFate> publish, absl::Duration ttl,
                                 absl::Span<const StoredFateKey> lookup, absl::Duration timeout,
                                 std::vector<std::optional<TraceId>>* found) = 0;

  // For logs and /status, without secrets, e.g. "redis 10.0.3.7:6379 tls".
  virtual std::string Describe() const = 0;
};

}  // namespace gateway
