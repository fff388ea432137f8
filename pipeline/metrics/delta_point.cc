#include "pipeline/metrics/delta_point.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace gateway::metrics {

std::string_view InitialValueName(InitialValue v) {
  switch (v) {
    case InitialValue::kAuto:
      return "auto";
    case InitialValue::kKeep:
      return "keep";
    case InitialValue::kDrop:
      return "drop";
  }
  return "auto";
}

std::string_view DeltaOutcomeName(DeltaOutcome outcome) {
  switch (outcome) {
    case DeltaOutcome::kEmitted:
      return "emitted";
    case DeltaOutcome::kInitial:
      return "initial";
    case DeltaOutcome::kReset:
      return "reset";
    case DeltaOutcome::kOutOfOrder:
      return "out_of_order";
    case DeltaOutcome::kBucketMismatch:
      return "bucket_mismatch";
  }
  return "unknown";
}

namespace delta_internal {

ExpBuckets Coarsen(const ExpBuckets& buckets, int32_t bits_lost) {
  ExpBuckets out;
  // Arithmetic shifts: bucket -1 at scale s is bucket -1 at scale s-1 too.
  out.offset = buckets.offset >> bits_lost;
  if (buckets.counts.empty()) return out;
  const int32_t last = buckets.offset + static_cast<int32_t>(buckets.counts.size()) - 1;
  out.counts.assign(static_cast<size_t>((last >> bits_lost) - out.offset + 1), 0);
  for (size_t i = 0; i < buckets.counts.size(); ++i) {
    const int32_t bucket = buckets.offset + static_cast<int32_t>(i);
    out.counts[static_cast<size_t>((bucket >> bits_lost) - out.offset)] += buckets.counts[i];
  }
  return out;
}

uint64_t TrimZeros(ExpBuckets& buckets, int32_t threshold_bucket) {
  const int64_t threshold_index = int64_t{threshold_bucket} - buckets.offset;
  if (threshold_index < 0) return 0;
  const size_t trimmed = std::min(static_cast<size_t>(threshold_index) + 1, buckets.counts.size());
  uint64_t total = 0;
  for (size_t i = 0; i < trimmed; ++i) total += buckets.counts[i];
  buckets.counts.erase(buckets.counts.begin(), buckets.counts.begin() + static_cast<std::ptrdiff_t>(trimmed));
  buckets.offset += static_cast<int32_t>(trimmed);
  return total;
}

bool Diff(const ExpBuckets& now, const ExpBuckets& before, ExpBuckets* out) {
  *out = ExpBuckets{};
  bool started = false;
  for (size_t i = 0; i < now.counts.size(); ++i) {
    const uint64_t count = now.counts[i];
    if (count == 0) continue;
    const int64_t bucket = int64_t{now.offset} + static_cast<int64_t>(i);
    const int64_t before_index = bucket - before.offset;
    uint64_t before_count = 0;
    if (before_index >= 0 && before_index < static_cast<int64_t>(before.counts.size())) {
      before_count = before.counts[static_cast<size_t>(before_index)];
    }
    if (count == before_count) continue;
    if (count < before_count) return false;
    if (!started) {
      out->offset = static_cast<int32_t>(bucket);
      started = true;
    } else {
      const int64_t next = int64_t{out->offset} + static_cast<int64_t>(out->counts.size());
      out->counts.resize(out->counts.size() + static_cast<size_t>(bucket - next), 0);
    }
    out->counts.push_back(count - before_count);
  }
  return true;
}

}  // namespace delta_internal

namespace {

using delta_internal::Coarsen;
using delta_internal::Diff;
using delta_internal::TrimZeros;

// Two's-complement difference: a counter that wraps int64 does not hit UB.
int64_t Minus(int64_t a, int64_t b) { return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b)); }

DeltaOutcome HistogramDelta(const HistogramValue& prev, HistogramValue& value, HistogramValue* delta) {
  if (std::isnan(value.sum)) value.sum = prev.sum;
  if (value.bucket_counts.size() != prev.bucket_counts.size() ||
      value.bounds_fingerprint != prev.bounds_fingerprint) {
    return DeltaOutcome::kBucketMismatch;
  }
  if (value.count < prev.count) return DeltaOutcome::kReset;
  for (size_t i = 0; i < prev.bucket_counts.size(); ++i) {
    if (value.bucket_counts[i] < prev.bucket_counts[i]) return DeltaOutcome::kReset;
  }
  delta->count = value.count - prev.count;
  delta->sum = value.sum - prev.sum;
  delta->bounds_fingerprint = value.bounds_fingerprint;
  delta->bucket_counts.resize(value.bucket_counts.size());
  for (size_t i = 0; i < value.bucket_counts.size(); ++i) {
    delta->bucket_counts[i] = value.bucket_counts[i] - prev.bucket_counts[i];
  }
  return DeltaOutcome::kEmitted;
}

DeltaOutcome ExpHistogramDelta(const ExpHistogramValue& prev_in, const ExpHistogramValue& value,
                               ExpHistogramValue* delta) {
  // A merge only ever raises count and the zero threshold and lowers the
  // scale; anything else is a reset.
  if (value.count < prev_in.count || value.zero_threshold < prev_in.zero_threshold || value.scale > prev_in.scale) {
    return DeltaOutcome::kReset;
  }
  ExpHistogramValue prev = prev_in;
  if (value.zero_threshold > prev.zero_threshold) {
    // The previous point's buckets that the wider zero bucket now covers:
    // the greatest i with 2^(2^-scale * i) < threshold.
    const double scale_factor = std::ldexp(std::numbers::log2e, prev.scale);
    const auto threshold_bucket =
        static_cast<int32_t>(std::ceil(std::log(value.zero_threshold) * scale_factor) - 1);
    prev.zero_count += TrimZeros(prev.positive, threshold_bucket);
    prev.zero_count += TrimZeros(prev.negative, threshold_bucket);
  }
  // Not checked by the Collector (its unsigned subtraction wraps).
  if (value.zero_count < prev.zero_count) return DeltaOutcome::kReset;
  if (value.scale < prev.scale) {
    const int32_t bits_lost = prev.scale - value.scale;
    prev.positive = Coarsen(prev.positive, bits_lost);
    prev.negative = Coarsen(prev.negative, bits_lost);
  }
  delta->count = value.count - prev.count;
  delta->sum = value.sum - prev.sum;
  delta->zero_count = value.zero_count - prev.zero_count;
  delta->zero_threshold = value.zero_threshold;
  delta->scale = value.scale;
  if (!Diff(value.positive, prev.positive, &delta->positive)) return DeltaOutcome::kReset;
  if (!Diff(value.negative, prev.negative, &delta->negative)) return DeltaOutcome::kReset;
  return DeltaOutcome::kEmitted;
}

}  // namespace

DeltaOutcome ToDelta(const SeriesState* prev, CumulativePoint& in, const DeltaRules& rules, DeltaPoint* out) {
  if (prev == nullptr) {
    switch (rules.initial_value) {
      case InitialValue::kAuto:
        if (in.start_time_unix_nano < rules.start_unix_nano || in.time_unix_nano == in.start_time_unix_nano) {
          return DeltaOutcome::kInitial;
        }
        break;
      case InitialValue::kKeep:
        break;
      case InitialValue::kDrop:
        return DeltaOutcome::kInitial;
    }
    out->start_time_unix_nano = in.start_time_unix_nano;
    out->value = in.value;
    return DeltaOutcome::kEmitted;
  }
  if (in.time_unix_nano <= prev->time_unix_nano) return DeltaOutcome::kOutOfOrder;
  if (in.value.index() != prev->value.index()) return DeltaOutcome::kBucketMismatch;  // keys prevent this
  out->start_time_unix_nano = prev->time_unix_nano;
  if (const auto* v = std::get_if<int64_t>(&in.value)) {
    const int64_t before = std::get<int64_t>(prev->value);
    if (*v < before) return DeltaOutcome::kReset;
    out->value = Minus(*v, before);
    return DeltaOutcome::kEmitted;
  }
  if (const auto* v = std::get_if<double>(&in.value)) {
    const double before = std::get<double>(prev->value);
    if (*v < before) return DeltaOutcome::kReset;
    out->value = *v - before;
    return DeltaOutcome::kEmitted;
  }
  if (auto* v = std::get_if<HistogramValue>(&in.value)) {
    HistogramValue delta;
    const DeltaOutcome outcome = HistogramDelta(std::get<HistogramValue>(prev->value), *v, &delta);
    if (outcome == DeltaOutcome::kEmitted) out->value = std::move(delta);
    return outcome;
  }
  ExpHistogramValue delta;
  const DeltaOutcome outcome =
      ExpHistogramDelta(std::get<ExpHistogramValue>(prev->value), std::get<ExpHistogramValue>(in.value), &delta);
  if (outcome == DeltaOutcome::kEmitted) out->value = std::move(delta);
  return outcome;
}

}  // namespace gateway::metrics
