#include "pipeline/metrics/cumulative_to_delta.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "pipeline/metrics/series_key.h"
#include "pipeline/metrics/series_table.h"

namespace gateway {
namespace {

namespace pb = google::protobuf;
namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;
using metrics::CumulativePoint;
using metrics::DeltaOutcome;
using metrics::DeltaPoint;
using metrics::KeyBuilder;
using metrics::SeriesKey;

// Reasons a point leaves the request, besides the conversion's own
// (DeltaOutcome).
enum class DropReason : uint8_t { kNoRecordedValue = 0, kSummary = 1, kDimensionLimit = 2 };
constexpr std::string_view kDropReasonNames[] = {"no_recorded_value", "summary", "dimension_limit"};

constexpr uint32_t kNoRecordedValueFlag = otlp::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK;

// Removes the elements for which `drop` is true, keeping the others' order.
// Returns how many were removed.
template <typename T, typename Pred>
int RemoveIf(pb::RepeatedPtrField<T>* field, Pred drop) {
  int kept = 0;
  const int size = field->size();
  for (int i = 0; i < size; ++i) {
    if (drop(*field->Mutable(i))) continue;
    if (i != kept) field->SwapElements(i, kept);
    ++kept;
  }
  if (kept < size) field->DeleteSubrange(kept, size - kept);
  return size - kept;
}

void AppendAnyValue(const AnyValue& v, KeyBuilder& b);

// Attributes in key order (stable for repeated keys), so that the order an
// SDK lists them in does not split a series.
void AppendAttributes(const pb::RepeatedPtrField<KeyValue>& attributes, KeyBuilder& b) {
  absl::InlinedVector<const KeyValue*, 16> sorted;
  sorted.reserve(static_cast<size_t>(attributes.size()));
  for (const KeyValue& kv : attributes) sorted.push_back(&kv);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const KeyValue* a, const KeyValue* c) { return a->key() < c->key(); });
  b.U64(sorted.size());
  for (const KeyValue* kv : sorted) {
    b.String(kv->key());
    AppendAnyValue(kv->value(), b);
  }
}

void AppendAnyValue(const AnyValue& v, KeyBuilder& b) {
  b.Byte(static_cast<uint8_t>(v.value_case()));
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      b.String(v.string_value());
      break;
    case AnyValue::kBoolValue:
      b.Byte(v.bool_value() ? 1 : 0);
      break;
    case AnyValue::kIntValue:
      b.U64(static_cast<uint64_t>(v.int_value()));
      break;
    case AnyValue::kDoubleValue: {
      uint64_t bits;
      const double d = v.double_value();
      std::memcpy(&bits, &d, sizeof(bits));
      b.U64(bits);
      break;
    }
    case AnyValue::kBytesValue:
      b.String(v.bytes_value());
      break;
    case AnyValue::kArrayValue:
      b.U64(static_cast<uint64_t>(v.array_value().values_size()));
      for (const AnyValue& e : v.array_value().values()) AppendAnyValue(e, b);
      break;
    case AnyValue::kKvlistValue:
      AppendAttributes(v.kvlist_value().values(), b);
      break;
    case AnyValue::VALUE_NOT_SET:
      break;
  }
}

uint64_t BoundsFingerprint(const pb::RepeatedField<double>& bounds) {
  return metrics::Fingerprint64(std::string_view(reinterpret_cast<const char*>(bounds.data()),
                                                 static_cast<size_t>(bounds.size()) * sizeof(double)));
}

std::vector<uint64_t> Counts(const pb::RepeatedField<uint64_t>& counts) {
  return std::vector<uint64_t>(counts.begin(), counts.end());
}

void SetCounts(const std::vector<uint64_t>& from, pb::RepeatedField<uint64_t>* to) {
  to->Resize(static_cast<int>(from.size()), 0);
  std::copy(from.begin(), from.end(), to->begin());
}

// Per-request tallies, folded into the registry's counters once per request.
struct Tally {
  int64_t input_points = 0;
  int64_t removed = 0;
  int64_t converted = 0;
  int64_t outcomes[metrics::kDeltaOutcomeCount] = {};
  int64_t drops[std::size(kDropReasonNames)] = {};
  bool changed = false;
};

class ProtoMetricsTransform final : public MetricsTransform {
 public:
  ProtoMetricsTransform(const MetricsOptions& options, const Clock& clock, MetricsRegistry& registry)
      : options_(options) {
    if (options.cumulative_to_delta) {
      metrics::DeltaRules rules;
      rules.initial_value = options.initial_value;
      rules.start_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(clock.Now()));
      table_ = std::make_unique<metrics::SeriesTable>(options.series, rules, clock, registry);
    }
    converted_ = registry.GetCounter("gateway_metrics_points_converted_total",
                                     "Cumulative data points sent on as delta points");
    const std::string dropped_help = "Metric data points removed before export, by reason";
    for (DeltaOutcome o : {DeltaOutcome::kInitial, DeltaOutcome::kReset, DeltaOutcome::kOutOfOrder,
                           DeltaOutcome::kBucketMismatch}) {
      outcome_drops_[static_cast<int>(o)] = registry.GetCounter(
          "gateway_metrics_points_dropped_total", dropped_help, {{"reason", std::string(DeltaOutcomeName(o))}});
    }
    for (size_t i = 0; i < std::size(kDropReasonNames); ++i) {
      drops_[i] = registry.GetCounter("gateway_metrics_points_dropped_total", dropped_help,
                                      {{"reason", std::string(kDropReasonNames[i])}});
    }
  }

  MetricsTransformResult Transform(std::string request) override {
    MetricsTransformResult result;
    pb::Arena arena;
    auto* parsed = pb::Arena::CreateMessage<ExportMetricsServiceRequest>(&arena);
    if (!parsed->ParseFromString(request)) {
      result.outcome = MetricsTransformOutcome::kUnparsable;
      result.message = "metrics request does not parse as ExportMetricsServiceRequest";
      result.body = std::move(request);
      return result;
    }
    Tally tally;
    RemoveIf(parsed->mutable_resource_metrics(), [&](otlp::ResourceMetrics& rm) {
      KeyBuilder& b = scratch();
      b.Clear();
      AppendAttributes(rm.resource().attributes(), b);
      const SeriesKey resource_key = b.Fingerprint();
      const int removed = RemoveIf(rm.mutable_scope_metrics(), [&](otlp::ScopeMetrics& sm) {
        b.Clear();
        b.Key(resource_key);
        b.String(sm.scope().name());
        b.String(sm.scope().version());
        AppendAttributes(sm.scope().attributes(), b);
        const SeriesKey scope_key = b.Fingerprint();
        const int gone = RemoveIf(sm.mutable_metrics(), [&](otlp::Metric& m) { return ProcessMetric(scope_key, m, tally); });
        return gone > 0 && sm.metrics_size() == 0;
      });
      return removed > 0 && rm.scope_metrics_size() == 0;
    });

    for (size_t i = 0; i < std::size(kDropReasonNames); ++i) {
      if (tally.drops[i] > 0) drops_[i]->Add(tally.drops[i]);
    }
    for (int i = 1; i < metrics::kDeltaOutcomeCount; ++i) {
      if (tally.outcomes[i] > 0) outcome_drops_[i]->Add(tally.outcomes[i]);
    }
    if (tally.converted > 0) converted_->Add(tally.converted);

    result.input_points = tally.input_points;
    result.points = tally.input_points - tally.removed;
    const int64_t summaries = tally.drops[static_cast<int>(DropReason::kSummary)];
    const int64_t over_limit = tally.drops[static_cast<int>(DropReason::kDimensionLimit)];
    result.rejected = summaries + over_limit;
    if (summaries > 0) {
      absl::StrAppend(&result.message, summaries, " summary data points dropped (summaries are not ingested)");
    }
    if (over_limit > 0) {
      absl::StrAppend(&result.message, result.message.empty() ? "" : "; ", over_limit,
                      " data points dropped with more than ", options_.max_dimensions,
                      " attributes (the dimension limit)");
    }
    result.body = tally.changed ? parsed->SerializeAsString() : std::move(request);
    return result;
  }

 private:
  static KeyBuilder& scratch() {
    thread_local KeyBuilder builder;
    return builder;
  }

  // Removes the points with more attributes than max_dimensions.
  template <typename Point>
  void LimitDimensions(pb::RepeatedPtrField<Point>* points, Tally& tally) {
    if (options_.max_dimensions <= 0) return;
    const int removed =
        RemoveIf(points, [&](const Point& p) { return p.attributes_size() > options_.max_dimensions; });
    Drop(DropReason::kDimensionLimit, removed, tally);
  }

  void Drop(DropReason reason, int64_t n, Tally& tally) {
    if (n == 0) return;
    tally.drops[static_cast<int>(reason)] += n;
    tally.removed += n;
    tally.changed = true;
  }

  // The series key of one point of the metric whose key is `metric_key`.
  template <typename Point>
  static SeriesKey PointKey(const SeriesKey& metric_key, uint8_t value_type, const Point& p) {
    KeyBuilder& b = scratch();
    b.Clear();
    b.Key(metric_key);
    b.Byte(value_type);
    b.U64(p.start_time_unix_nano());
    AppendAttributes(p.attributes(), b);
    return b.Fingerprint();
  }

  // Runs one point through the table; true when it is to be removed.
  bool Convert(const SeriesKey& key, CumulativePoint& in, DeltaPoint* out, Tally& tally) {
    const DeltaOutcome outcome = table_->Convert(key, in, out);
    ++tally.outcomes[static_cast<int>(outcome)];
    if (outcome == DeltaOutcome::kEmitted) {
      ++tally.converted;
      return false;
    }
    ++tally.removed;
    return true;
  }

  // Returns true when the metric is to be removed.
  bool ProcessMetric(const SeriesKey& scope_key, otlp::Metric& m, Tally& tally) {
    const int64_t removed_before = tally.removed;
    int remaining = 0;
    switch (m.data_case()) {
      case otlp::Metric::kGauge:
        tally.input_points += m.gauge().data_points_size();
        LimitDimensions(m.mutable_gauge()->mutable_data_points(), tally);
        remaining = m.gauge().data_points_size();
        break;
      case otlp::Metric::kSum: {
        otlp::Sum* sum = m.mutable_sum();
        tally.input_points += sum->data_points_size();
        LimitDimensions(sum->mutable_data_points(), tally);
        if (table_ && sum->is_monotonic() &&
            sum->aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE) {
          ConvertSum(MetricKey(scope_key, m, 's', true), sum, tally);
        }
        remaining = sum->data_points_size();
        break;
      }
      case otlp::Metric::kHistogram: {
        otlp::Histogram* h = m.mutable_histogram();
        tally.input_points += h->data_points_size();
        LimitDimensions(h->mutable_data_points(), tally);
        if (table_ && h->aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE) {
          ConvertHistogram(MetricKey(scope_key, m, 'h', true), h, tally);
        }
        remaining = h->data_points_size();
        break;
      }
      case otlp::Metric::kExponentialHistogram: {
        otlp::ExponentialHistogram* h = m.mutable_exponential_histogram();
        tally.input_points += h->data_points_size();
        LimitDimensions(h->mutable_data_points(), tally);
        if (table_ && h->aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE) {
          ConvertExpHistogram(MetricKey(scope_key, m, 'e', false), h, tally);
        }
        remaining = h->data_points_size();
        break;
      }
      case otlp::Metric::kSummary:
        tally.input_points += m.summary().data_points_size();
        if (options_.drop_summaries) {
          Drop(DropReason::kSummary, m.summary().data_points_size(), tally);
          return true;
        }
        LimitDimensions(m.mutable_summary()->mutable_data_points(), tally);
        remaining = m.summary().data_points_size();
        break;
      case otlp::Metric::DATA_NOT_SET:
        return false;
    }
    return tally.removed > removed_before && remaining == 0;
  }

  static SeriesKey MetricKey(const SeriesKey& scope_key, const otlp::Metric& m, char type, bool monotonic) {
    KeyBuilder& b = scratch();
    b.Clear();
    b.Key(scope_key);
    b.Byte(static_cast<uint8_t>(type));
    b.Byte(monotonic ? 1 : 0);
    b.String(m.name());
    b.String(m.unit());
    return b.Fingerprint();
  }

  void ConvertSum(const SeriesKey& metric_key, otlp::Sum* sum, Tally& tally) {
    tally.changed = true;
    sum->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_DELTA);
    RemoveIf(sum->mutable_data_points(), [&](otlp::NumberDataPoint& p) {
      if (p.flags() & kNoRecordedValueFlag) {
        Drop(DropReason::kNoRecordedValue, 1, tally);
        return true;
      }
      const bool is_double = p.value_case() == otlp::NumberDataPoint::kAsDouble;
      // A NaN (a staleness marker) goes on as it came; the series keeps its
      // state.
      if (is_double && std::isnan(p.as_double())) return false;
      const uint8_t value_type = is_double ? 'd' : p.value_case() == otlp::NumberDataPoint::kAsInt ? 'i' : 'n';
      CumulativePoint in{p.start_time_unix_nano(), p.time_unix_nano(),
                         is_double ? metrics::PointValue(p.as_double()) : metrics::PointValue(p.as_int())};
      DeltaPoint out;
      if (Convert(PointKey(metric_key, value_type, p), in, &out, tally)) return true;
      p.set_start_time_unix_nano(out.start_time_unix_nano);
      if (is_double) {
        p.set_as_double(std::get<double>(out.value));
      } else {
        p.set_as_int(std::get<int64_t>(out.value));
      }
      return false;
    });
  }

  void ConvertHistogram(const SeriesKey& metric_key, otlp::Histogram* h, Tally& tally) {
    tally.changed = true;
    h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_DELTA);
    RemoveIf(h->mutable_data_points(), [&](otlp::HistogramDataPoint& p) {
      if (p.flags() & kNoRecordedValueFlag) {
        Drop(DropReason::kNoRecordedValue, 1, tally);
        return true;
      }
      metrics::HistogramValue v;
      v.count = p.count();
      v.sum = p.has_sum() ? p.sum() : 0;
      v.bounds_fingerprint = BoundsFingerprint(p.explicit_bounds());
      v.bucket_counts = Counts(p.bucket_counts());
      const bool keeps_sum = p.has_sum() && !std::isnan(p.sum());
      CumulativePoint in{p.start_time_unix_nano(), p.time_unix_nano(), std::move(v)};
      DeltaPoint out;
      if (Convert(PointKey(metric_key, 'h', p), in, &out, tally)) return true;
      const auto& delta = std::get<metrics::HistogramValue>(out.value);
      p.set_start_time_unix_nano(out.start_time_unix_nano);
      p.set_count(delta.count);
      if (keeps_sum) p.set_sum(delta.sum);
      SetCounts(delta.bucket_counts, p.mutable_bucket_counts());
      // Neither can be known for the interval.
      p.clear_min();
      p.clear_max();
      return false;
    });
  }

  void ConvertExpHistogram(const SeriesKey& metric_key, otlp::ExponentialHistogram* h, Tally& tally) {
    tally.changed = true;
    h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_DELTA);
    RemoveIf(h->mutable_data_points(), [&](otlp::ExponentialHistogramDataPoint& p) {
      if (p.flags() & kNoRecordedValueFlag) {
        Drop(DropReason::kNoRecordedValue, 1, tally);
        return true;
      }
      metrics::ExpHistogramValue v;
      v.count = p.count();
      v.sum = p.has_sum() ? p.sum() : 0;
      v.zero_count = p.zero_count();
      v.zero_threshold = p.zero_threshold();
      v.scale = p.scale();
      v.positive = {p.positive().offset(), Counts(p.positive().bucket_counts())};
      v.negative = {p.negative().offset(), Counts(p.negative().bucket_counts())};
      const bool keeps_sum = p.has_sum() && !std::isnan(p.sum());
      CumulativePoint in{p.start_time_unix_nano(), p.time_unix_nano(), std::move(v)};
      DeltaPoint out;
      if (Convert(PointKey(metric_key, 'e', p), in, &out, tally)) return true;
      const auto& delta = std::get<metrics::ExpHistogramValue>(out.value);
      p.set_start_time_unix_nano(out.start_time_unix_nano);
      p.set_count(delta.count);
      if (keeps_sum) p.set_sum(delta.sum);
      p.set_zero_count(delta.zero_count);
      p.mutable_positive()->set_offset(delta.positive.offset);
      SetCounts(delta.positive.counts, p.mutable_positive()->mutable_bucket_counts());
      p.mutable_negative()->set_offset(delta.negative.offset);
      SetCounts(delta.negative.counts, p.mutable_negative()->mutable_bucket_counts());
      p.clear_min();
      p.clear_max();
      return false;
    });
  }

  const MetricsOptions options_;
  std::unique_ptr<metrics::SeriesTable> table_;
  Counter* converted_;
  Counter* outcome_drops_[metrics::kDeltaOutcomeCount] = {};
  Counter* drops_[std::size(kDropReasonNames)] = {};
};

}  // namespace

std::unique_ptr<MetricsTransform> NewMetricsTransform(const MetricsOptions& options, const Clock& clock,
                                                      MetricsRegistry& registry) {
  return std::make_unique<ProtoMetricsTransform>(options, clock, registry);
}

}  // namespace gateway
