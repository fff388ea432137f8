// Values of cumulative data points, the state kept per series, and the pure
// step that turns one cumulative point into a delta point: the rules of the
// OpenTelemetry Collector's cumulativetodelta processor (v0.158.0), with the
// deviations that docs/metrics.md lists (out-of-order points, re-baselining
// after a histogram reset).
//
//   SeriesState state;                 // kept by SeriesTable, per series
//   CumulativePoint in{start, time, int64_t{42}};
//   DeltaPoint out;
//   DeltaOutcome o = ToDelta(seen ? &state : nullptr, in, options, &out);
//   if (UpdatesState(o)) state = {in.time_unix_nano, std::move(in.value)};
//   if (o == DeltaOutcome::kEmitted) ... out.start_time_unix_nano, out.value
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

namespace gateway::metrics {

struct HistogramValue {
  uint64_t count = 0;
  // 0 when the point has no sum. A NaN sum is replaced by the previous
  // point's sum before it is stored (as the Collector does).
  double sum = 0;
  // Fingerprint of explicit_bounds: points whose bounds differ do not
  // subtract.
  uint64_t bounds_fingerprint = 0;
  std::vector<uint64_t> bucket_counts;
};

// One side (positive or negative) of an exponential histogram: counts[i] is
// bucket offset + i.
struct ExpBuckets {
  int32_t offset = 0;
  std::vector<uint64_t> counts;
};

struct ExpHistogramValue {
  uint64_t count = 0;
  double sum = 0;
  uint64_t zero_count = 0;
  double zero_threshold = 0;
  int32_t scale = 0;
  ExpBuckets positive;
  ExpBuckets negative;
};

// A monotonic sum's int or double value, or a histogram.
using PointValue = std::variant<int64_t, double, HistogramValue, ExpHistogramValue>;

struct CumulativePoint {
  uint64_t start_time_unix_nano = 0;
  uint64_t time_unix_nano = 0;
  PointValue value;
};

// What a series remembers between points: its last accepted point.
struct SeriesState {
  uint64_t time_unix_nano = 0;
  PointValue value;
};

struct DeltaPoint {
  uint64_t start_time_unix_nano = 0;
  PointValue value;
};

// How the first point of a series the gateway has no state for is treated
// (the Collector's initial_value).
enum class InitialValue : uint8_t {
  // Emitted (whole, as the first delta) when the series started after the
  // gateway did and its start time differs from its time; dropped otherwise.
  kAuto = 0,
  // Always emitted whole.
  kKeep = 1,
  // Always dropped: only increments observed by this gateway are sent.
  kDrop = 2,
};

std::string_view InitialValueName(InitialValue v);

enum class DeltaOutcome : uint8_t {
  // `out` holds the delta point.
  kEmitted = 0,
  // First point of a series; dropped by the InitialValue rule.
  kInitial = 1,
  // The value went down (a counter reset without a new start time).
  kReset = 2,
  // Not newer than the series' last point (a retry, or a reordered request).
  kOutOfOrder = 3,
  // A histogram whose bucket layout changed.
  kBucketMismatch = 4,
};
inline constexpr int kDeltaOutcomeCount = 5;

// "emitted", "initial", "reset", "out_of_order", "bucket_mismatch".
std::string_view DeltaOutcomeName(DeltaOutcome outcome);

// Whether the series' state becomes the incoming point after `outcome`
// (everything but kOutOfOrder).
constexpr bool UpdatesState(DeltaOutcome outcome) { return outcome != DeltaOutcome::kOutOfOrder; }

struct DeltaRules {
  InitialValue initial_value = InitialValue::kAuto;
  // When the gateway started (the Collector's component start), for kAuto.
  uint64_t start_unix_nano = 0;
};

// Converts `in` against `prev` (null: the series has no state). `in` and
// `prev` hold the same alternative of PointValue (the series key includes
// the value type). May rewrite in's histogram NaN sum to prev's sum, which is
// what the state must remember. Pure: no clock, no table.
DeltaOutcome ToDelta(const SeriesState* prev, CumulativePoint& in, const DeltaRules& rules, DeltaPoint* out);

// Exposed for tests: the exponential-histogram bucket operations, as the
// Collector's tracking package defines them.
namespace delta_internal {
// Buckets merged 2^bits_lost to one (a scale lowered by bits_lost).
ExpBuckets Coarsen(const ExpBuckets& buckets, int32_t bits_lost);
// Removes the buckets up to and including `threshold_bucket`; returns their
// total count.
uint64_t TrimZeros(ExpBuckets& buckets, int32_t threshold_bucket);
// now - before, bucket by bucket over now's buckets: from the first bucket
// that grew to the last one that did. False when a bucket went down.
bool Diff(const ExpBuckets& now, const ExpBuckets& before, ExpBuckets* out);
}  // namespace delta_internal

}  // namespace gateway::metrics
