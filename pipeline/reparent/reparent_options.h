// Options of the reparenting engine; docs/reparenting.md explains each rule.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {

enum class LinkChoice : uint8_t { kFirst = 0, kLast = 1 };

struct ReparentOptions {
  // Span kinds that are reparented when they carry a valid cross-trace link.
  std::vector<SpanKind> target_kinds = {SpanKind::kConsumer};
  // Which valid cross-trace link becomes the parent.
  LinkChoice link_choice = LinkChoice::kFirst;
  // Add gateway.reparent.* attributes naming the original trace and parent.
  bool record_original = true;
  // Synthetic CONSUMER spans in the traces of the other links of a batch.
  bool fanout = true;
  // At most this many fan-out spans per target span.
  int max_fanout_links = 32;

  // How long a span whose parent has not been seen waits before it goes out
  // unchanged. Covers the SDKs' 5 s batch-processor delay with margin.
  absl::Duration hold_window = absl::Seconds(10);
  // How long the fate of a forwarded span is remembered for late children.
  absl::Duration resolved_ttl = absl::Minutes(5);
  // Bound on spans held across all shards; past it the oldest are released
  // unchanged.
  int64_t max_held_spans = 1'000'000;
  // Bound on remembered fates across all shards; past it the oldest are forgotten.
  int64_t max_resolved_spans = 4'000'000;
  // Bound on the bytes the remembered fates' tables allocate across all
  // shards (both generations, a growing table's old and new copy counted
  // together); past it the oldest are forgotten. 0: no byte bound.
  int64_t max_table_bytes = 0;
  // Spans whose parent is remote also wait for it (a central gateway that
  // sees several services). Off: a remote parent counts as resolved-unchanged.
  bool cross_process = false;
  // With cross_process: a target whose link's span has not been seen waits,
  // within the hold window, to learn whether that span moved (chains of hops
  // arriving out of order, docs/reparenting.md §3). Off: it goes to the
  // link's trace at once, as without cross_process. Off in a tier of
  // gateway replicas without a shared fate store: a replica never sees the
  // producers the others own, so the wait would only hold those consumers
  // and their descendants for the whole window.
  bool wait_for_link_fate = true;

  bool WaitsForLinkFate() const { return cross_process && wait_for_link_fate; }

  // Worker threads, each owning the traces that hash to it. 0: half the
  // CPUs the process may use (UsableCpus, pipeline/base/cgroup.h), at least 1.
  int shards = 0;
  // Longest a worker sleeps between looks at the clock (hold window, batch
  // delay) when no spans arrive; bounds how late an expiry on a simulated
  // clock is noticed.
  absl::Duration worker_tick = absl::Milliseconds(20);
};

}  // namespace gateway
