#include "tests/pipeline/metrics/delta_oracle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gateway::testing {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::common::v1::KeyValue;
using Attrs = google::protobuf::RepeatedPtrField<KeyValue>;

std::string Num(double d) {
  if (std::isnan(d)) return "nan";
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return absl::StrCat(d, "#", bits);
}

std::string SortedAttrs(const Attrs& attrs) {
  std::vector<std::string> kv;
  for (const KeyValue& a : attrs) kv.push_back(absl::StrCat(a.key(), "=", a.value().ShortDebugString()));
  std::sort(kv.begin(), kv.end());
  return absl::StrJoin(kv, ",");
}

// Resource, scope and metric header, as one prefix.
std::string Header(const otlp::ResourceMetrics& rm, const otlp::ScopeMetrics& sm, const otlp::Metric& m,
                   int temporality, bool monotonic) {
  return absl::StrCat("R{", SortedAttrs(rm.resource().attributes()), "} S{", sm.scope().name(), "/",
                      sm.scope().version(), "} M{", m.name(), "/", m.unit(), "/", static_cast<int>(m.data_case()),
                      "/t", temporality, monotonic ? "/mono" : "", "}");
}

template <typename Point>
std::string PointHeader(const Point& p) {
  return absl::StrCat(" A{", SortedAttrs(p.attributes()), "} ", p.start_time_unix_nano(), "..", p.time_unix_nano(),
                      " f", p.flags(), " ");
}

std::string Value(const otlp::NumberDataPoint& p) {
  if (p.value_case() == otlp::NumberDataPoint::kAsDouble) return absl::StrCat("d:", Num(p.as_double()));
  return absl::StrCat("i:", p.as_int());
}

std::string Value(const otlp::HistogramDataPoint& p) {
  std::vector<std::string> bounds;
  for (double b : p.explicit_bounds()) bounds.push_back(Num(b));
  return absl::StrCat("h:", p.count(), " sum:", p.has_sum() ? Num(p.sum()) : "-", " bounds:", absl::StrJoin(bounds, ","),
                      " counts:", absl::StrJoin(p.bucket_counts(), ","), p.has_min() ? " min" : "",
                      p.has_max() ? " max" : "");
}

std::map<int64_t, uint64_t> NonZero(const otlp::ExponentialHistogramDataPoint::Buckets& b) {
  std::map<int64_t, uint64_t> out;
  for (int i = 0; i < b.bucket_counts_size(); ++i) {
    if (b.bucket_counts(i) != 0) out[int64_t{b.offset()} + i] = b.bucket_counts(i);
  }
  return out;
}

std::string Side(const otlp::ExponentialHistogramDataPoint::Buckets& b, bool exact) {
  if (exact) return absl::StrCat(b.offset(), "[", absl::StrJoin(b.bucket_counts(), ","), "]");
  std::vector<std::string> parts;
  for (const auto& [i, c] : NonZero(b)) parts.push_back(absl::StrCat(i, ":", c));
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string Value(const otlp::ExponentialHistogramDataPoint& p, bool exact) {
  return absl::StrCat("e:", p.count(), " sum:", p.has_sum() ? Num(p.sum()) : "-", " scale:", p.scale(),
                      " zero:", p.zero_count(), "@", Num(p.zero_threshold()), " +", Side(p.positive(), exact), " -",
                      Side(p.negative(), exact), p.has_min() ? " min" : "", p.has_max() ? " max" : "");
}

std::string Value(const otlp::SummaryDataPoint& p) { return p.ShortDebugString(); }

// The oracle's memory of one series: its last point (any type) and time.
struct State {
  uint64_t time = 0;
  otlp::NumberDataPoint number;
  otlp::HistogramDataPoint histogram;
  otlp::ExponentialHistogramDataPoint exp;
};

class Oracle {
 public:
  explicit Oracle(uint64_t gateway_start) : gateway_start_(gateway_start) {}

  void Feed(const ExportMetricsServiceRequest& request) {
    for (const auto& rm : request.resource_metrics()) {
      for (const auto& sm : rm.scope_metrics()) {
        for (const auto& m : sm.metrics()) Metric(rm, sm, m);
      }
    }
  }

  std::vector<std::string> out;

 private:
  template <typename Point>
  std::string SeriesKey(const std::string& header, const Point& p, const std::string& value_type) {
    return absl::StrCat(header, " ", value_type, " A{", SortedAttrs(p.attributes()), "} start ",
                        p.start_time_unix_nano());
  }

  // The first-point and ordering rules. Returns the state to subtract from,
  // or null when the point is not subtracted (then *emit_whole says whether
  // it goes out as it is). *store says whether the point becomes the state.
  const State* Lookup(const std::string& key, uint64_t start, uint64_t time, bool* emit_whole, bool* store) {
    auto it = states_.find(key);
    *store = true;
    *emit_whole = false;
    if (it == states_.end()) {
      *emit_whole = start >= gateway_start_ && time != start;
      return nullptr;
    }
    if (time <= it->second.time) *store = false;
    return *store ? &it->second : nullptr;
  }

  void Metric(const otlp::ResourceMetrics& rm, const otlp::ScopeMetrics& sm, const otlp::Metric& m) {
    switch (m.data_case()) {
      case otlp::Metric::kSum: {
        const otlp::Sum& sum = m.sum();
        const bool convert =
            sum.is_monotonic() && sum.aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE;
        const std::string header = Header(rm, sm, m, convert ? otlp::AGGREGATION_TEMPORALITY_DELTA
                                                             : sum.aggregation_temporality(), sum.is_monotonic());
        for (const auto& p : sum.data_points()) {
          if (!convert) {
            out.push_back(header + PointHeader(p) + Value(p));
          } else {
            Sum(header, p);
          }
        }
        break;
      }
      case otlp::Metric::kHistogram: {
        const bool convert = m.histogram().aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE;
        const std::string header = Header(
            rm, sm, m, convert ? otlp::AGGREGATION_TEMPORALITY_DELTA : m.histogram().aggregation_temporality(), false);
        for (const auto& p : m.histogram().data_points()) {
          if (!convert) {
            out.push_back(header + PointHeader(p) + Value(p));
          } else {
            Histogram(header, p);
          }
        }
        break;
      }
      case otlp::Metric::kExponentialHistogram: {
        const auto& eh = m.exponential_histogram();
        const bool convert = eh.aggregation_temporality() == otlp::AGGREGATION_TEMPORALITY_CUMULATIVE;
        const std::string header =
            Header(rm, sm, m, convert ? otlp::AGGREGATION_TEMPORALITY_DELTA : eh.aggregation_temporality(), false);
        for (const auto& p : eh.data_points()) {
          if (!convert) {
            out.push_back(header + PointHeader(p) + Value(p, false));
          } else {
            Exp(header, p);
          }
        }
        break;
      }
      case otlp::Metric::kGauge: {
        const std::string header = Header(rm, sm, m, 0, false);
        for (const auto& p : m.gauge().data_points()) out.push_back(header + PointHeader(p) + Value(p));
        break;
      }
      case otlp::Metric::kSummary:
      case otlp::Metric::DATA_NOT_SET:
        break;
    }
  }

  void Sum(const std::string& header, const otlp::NumberDataPoint& p) {
    if (p.flags() & 1) return;
    const bool is_double = p.value_case() == otlp::NumberDataPoint::kAsDouble;
    if (is_double && std::isnan(p.as_double())) {
      out.push_back(header + PointHeader(p) + Value(p));
      return;
    }
    const std::string key = SeriesKey(header, p, is_double ? "double" : "int");
    bool emit_whole = false;
    bool store = false;
    const State* prev = Lookup(key, p.start_time_unix_nano(), p.time_unix_nano(), &emit_whole, &store);
    otlp::NumberDataPoint delta = p;
    bool emit = emit_whole;
    if (prev != nullptr) {
      if (is_double) {
        emit = p.as_double() >= prev->number.as_double();
        delta.set_as_double(p.as_double() - prev->number.as_double());
      } else {
        emit = p.as_int() >= prev->number.as_int();
        delta.set_as_int(static_cast<int64_t>(static_cast<uint64_t>(p.as_int()) -
                                              static_cast<uint64_t>(prev->number.as_int())));
      }
      delta.set_start_time_unix_nano(prev->time);
    }
    if (emit) out.push_back(header + PointHeader(delta) + Value(delta));
    if (store) {
      State& s = states_[key];
      s.time = p.time_unix_nano();
      s.number = p;
    }
  }

  void Histogram(const std::string& header, const otlp::HistogramDataPoint& in) {
    if (in.flags() & 1) return;
    otlp::HistogramDataPoint p = in;
    const std::string key = SeriesKey(header, p, "histogram");
    bool emit_whole = false;
    bool store = false;
    const State* prev = Lookup(key, p.start_time_unix_nano(), p.time_unix_nano(), &emit_whole, &store);
    otlp::HistogramDataPoint delta = p;
    bool emit = emit_whole;
    if (prev != nullptr) {
      const otlp::HistogramDataPoint& before = prev->histogram;
      const double before_sum = before.has_sum() ? before.sum() : 0;
      if (std::isnan(p.sum())) p.set_sum(before_sum);
      bool same_layout = p.bucket_counts_size() == before.bucket_counts_size() &&
                         std::equal(p.explicit_bounds().begin(), p.explicit_bounds().end(),
                                    before.explicit_bounds().begin(), before.explicit_bounds().end());
      emit = same_layout && p.count() >= before.count();
      for (int i = 0; emit && i < p.bucket_counts_size(); ++i) {
        emit = p.bucket_counts(i) >= before.bucket_counts(i);
        delta.set_bucket_counts(i, p.bucket_counts(i) - before.bucket_counts(i));
      }
      delta.set_count(p.count() - before.count());
      if (in.has_sum() && !std::isnan(in.sum())) delta.set_sum((p.has_sum() ? p.sum() : 0) - before_sum);
      delta.set_start_time_unix_nano(prev->time);
    }
    delta.clear_min();
    delta.clear_max();
    if (emit) out.push_back(header + PointHeader(delta) + Value(delta));
    if (store) {
      State& s = states_[key];
      s.time = p.time_unix_nano();
      s.histogram = p;
    }
  }

  static void SetSide(const std::map<int64_t, uint64_t>& m, otlp::ExponentialHistogramDataPoint::Buckets* b) {
    b->Clear();
    if (m.empty()) return;
    b->set_offset(static_cast<int32_t>(m.begin()->first));
    for (int64_t i = m.begin()->first; i <= m.rbegin()->first; ++i) {
      auto it = m.find(i);
      b->add_bucket_counts(it == m.end() ? 0 : it->second);
    }
  }

  // now - before over now's non-zero buckets; false when one went down.
  static bool DiffSide(const otlp::ExponentialHistogramDataPoint::Buckets& now,
                       const otlp::ExponentialHistogramDataPoint::Buckets& before, int bits_lost,
                       otlp::ExponentialHistogramDataPoint::Buckets* out) {
    std::map<int64_t, uint64_t> old;
    for (const auto& [i, c] : NonZero(before)) old[i >> bits_lost] += c;
    std::map<int64_t, uint64_t> diff;
    for (const auto& [i, c] : NonZero(now)) {
      const uint64_t o = old.count(i) ? old[i] : 0;
      if (c < o) return false;
      if (c > o) diff[i] = c - o;
    }
    SetSide(diff, out);
    return true;
  }

  void Exp(const std::string& header, const otlp::ExponentialHistogramDataPoint& p) {
    if (p.flags() & 1) return;
    const std::string key = SeriesKey(header, p, "exp");
    bool emit_whole = false;
    bool store = false;
    const State* prev = Lookup(key, p.start_time_unix_nano(), p.time_unix_nano(), &emit_whole, &store);
    otlp::ExponentialHistogramDataPoint delta = p;
    bool emit = emit_whole;
    if (prev != nullptr) {
      const auto& before = prev->exp;
      emit = p.count() >= before.count() && p.scale() <= before.scale() && p.zero_count() >= before.zero_count() &&
             p.zero_threshold() == before.zero_threshold();
      const int bits_lost = before.scale() - p.scale();
      emit = emit && DiffSide(p.positive(), before.positive(), bits_lost, delta.mutable_positive()) &&
             DiffSide(p.negative(), before.negative(), bits_lost, delta.mutable_negative());
      delta.set_count(p.count() - before.count());
      delta.set_zero_count(p.zero_count() - before.zero_count());
      if (p.has_sum() && !std::isnan(p.sum())) delta.set_sum(p.sum() - (before.has_sum() ? before.sum() : 0));
      delta.set_start_time_unix_nano(prev->time);
    }
    delta.clear_min();
    delta.clear_max();
    if (emit) out.push_back(header + PointHeader(delta) + Value(delta, false));
    if (store) {
      State& s = states_[key];
      s.time = p.time_unix_nano();
      s.exp = p;
    }
  }

  const uint64_t gateway_start_;
  std::map<std::string, State> states_;
};

}  // namespace

std::vector<std::string> CanonicalPoints(const ExportMetricsServiceRequest& request, const CanonicalOptions& options) {
  std::vector<std::string> out;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        switch (m.data_case()) {
          case otlp::Metric::kSum: {
            const std::string h = Header(rm, sm, m, m.sum().aggregation_temporality(), m.sum().is_monotonic());
            for (const auto& p : m.sum().data_points()) out.push_back(h + PointHeader(p) + Value(p));
            break;
          }
          case otlp::Metric::kGauge: {
            const std::string h = Header(rm, sm, m, 0, false);
            for (const auto& p : m.gauge().data_points()) out.push_back(h + PointHeader(p) + Value(p));
            break;
          }
          case otlp::Metric::kHistogram: {
            const std::string h = Header(rm, sm, m, m.histogram().aggregation_temporality(), false);
            for (const auto& p : m.histogram().data_points()) out.push_back(h + PointHeader(p) + Value(p));
            break;
          }
          case otlp::Metric::kExponentialHistogram: {
            const std::string h = Header(rm, sm, m, m.exponential_histogram().aggregation_temporality(), false);
            for (const auto& p : m.exponential_histogram().data_points()) {
              out.push_back(h + PointHeader(p) + Value(p, options.exact_exp_layout));
            }
            break;
          }
          case otlp::Metric::kSummary: {
            const std::string h = Header(rm, sm, m, 0, false);
            for (const auto& p : m.summary().data_points()) out.push_back(h + PointHeader(p) + Value(p));
            break;
          }
          case otlp::Metric::DATA_NOT_SET:
            break;
        }
      }
    }
  }
  return out;
}

std::vector<std::string> ExpectedDeltaPoints(const std::vector<ExportMetricsServiceRequest>& requests,
                                             uint64_t gateway_start_unix_nano) {
  Oracle oracle(gateway_start_unix_nano);
  for (const auto& r : requests) oracle.Feed(r);
  return std::move(oracle.out);
}

}  // namespace gateway::testing
