#include "tests/pipeline/metrics/metric_streams.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gateway::testing {
namespace {

namespace otlp = opentelemetry::proto::metrics::v1;
using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using opentelemetry::proto::common::v1::KeyValue;

enum class Kind { kIntSum, kDoubleSum, kHistogram, kExpHistogram, kGauge, kUpDown, kDeltaSum };
constexpr int kKinds = 7;

const std::vector<std::vector<double>> kLayouts = {{1, 5, 10}, {1, 2, 5, 10}, {1, 5, 20}};

struct Series {
  int id = 0;
  Kind kind = Kind::kIntSum;
  int service = 0;
  int scope = 0;
  std::string name;
  std::vector<std::pair<std::string, std::string>> attrs;
  uint64_t start = 0;
  uint64_t time = 0;
  int64_t int_value = 0;
  double double_value = 0;
  int layout = 0;
  std::vector<uint64_t> buckets;
  uint64_t count = 0;
  double sum = 0;
  int32_t scale = 3;
  std::map<int32_t, uint64_t> positive;
  std::map<int32_t, uint64_t> negative;
  uint64_t zero_count = 0;
  double zero_threshold = 0;
  // Lowest bucket index observations may land in (above the zero bucket).
  int32_t min_index = -4;
};

struct Emitted {
  int series = 0;
  int service = 0;
  int scope = 0;
  uint64_t time = 0;
  otlp::Metric metric;
};

class Generator {
 public:
  explicit Generator(const StreamOptions& o) : o_(o), rng_(o.seed) {}

  std::vector<ExportMetricsServiceRequest> Run() {
    std::vector<Emitted> points;
    for (int i = 0; i < o_.series; ++i) {
      Series s = NewSeries(i);
      for (int step = 0; step < o_.steps; ++step) {
        Step(s);
        points.push_back(Emit(s));
      }
    }
    std::stable_sort(points.begin(), points.end(), [](const Emitted& a, const Emitted& b) { return a.time < b.time; });
    Disorder(points);
    return Pack(points);
  }

 private:
  bool Chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Uniform(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }

  Series NewSeries(int id) {
    Series s;
    s.id = id;
    s.kind = static_cast<Kind>(Uniform(0, kKinds - 1));
    s.service = static_cast<int>(Uniform(0, 2));
    s.scope = static_cast<int>(Uniform(0, 1));
    static const char* const kNames[] = {"requests", "bytes", "latency", "queue.depth"};
    s.name = absl::StrCat(kNames[Uniform(0, 3)], ".", static_cast<int>(s.kind));
    s.attrs.push_back({"sid", absl::StrCat(id)});
    static const char* const kKeys[] = {"route", "method", "code"};
    for (const char* k : kKeys) {
      if (Chance(0.5)) s.attrs.push_back({k, absl::StrCat("v", Uniform(0, 3))});
    }
    const uint64_t hour = 3600ULL * 1'000'000'000ULL;
    s.start = Chance(0.5) ? o_.gateway_start_unix_nano - o_.start_gap_nano - Uniform(1, hour)
                          : o_.gateway_start_unix_nano + o_.start_gap_nano + Uniform(1, 60'000'000'000ULL);
    s.time = s.start;
    s.layout = static_cast<int>(Uniform(0, kLayouts.size() - 1));
    ResetValues(s);
    return s;
  }

  void ResetValues(Series& s) {
    s.int_value = 0;
    s.double_value = 0;
    s.buckets.assign(kLayouts[s.layout].size() + 1, 0);
    s.count = 0;
    s.sum = 0;
    s.positive.clear();
    s.negative.clear();
    s.zero_count = 0;
    s.zero_threshold = 0;
    s.min_index = -4;
  }

  void Observe(Series& s) {
    const int n = static_cast<int>(Uniform(0, 4));
    for (int i = 0; i < n; ++i) {
      const double v = static_cast<double>(Uniform(0, 2500)) / 100.0;
      ++s.count;
      s.sum += v;
      const std::vector<double>& bounds = kLayouts[s.layout];
      size_t b = 0;
      while (b < bounds.size() && v > bounds[b]) ++b;
      ++s.buckets[b];
      const auto index = static_cast<int32_t>(Uniform(0, 12)) + s.min_index;
      if (Chance(0.1)) {
        ++s.zero_count;
      } else if (Chance(0.25)) {
        ++s.negative[index];
      } else {
        ++s.positive[index];
      }
    }
  }

  // Advances the series by one step: time, then maybe a restart, a reset or
  // a layout change, then new measurements.
  void Step(Series& s) {
    s.time += Uniform(1, 10) * 1'000'000'000ULL + Uniform(0, 999);
    const bool monotonic = s.kind == Kind::kIntSum || s.kind == Kind::kDoubleSum || s.kind == Kind::kHistogram ||
                           s.kind == Kind::kExpHistogram;
    const bool histogram = s.kind == Kind::kHistogram || s.kind == Kind::kExpHistogram;
    if (Chance(o_.restart_p)) {
      s.start = s.time - Uniform(1, 999'999);
      ResetValues(s);
    } else if (monotonic && (!histogram || o_.histogram_same_start_resets) && Chance(o_.same_start_reset_p)) {
      ResetValues(s);
    } else if (s.kind == Kind::kHistogram && Chance(o_.layout_change_p)) {
      s.layout = (s.layout + 1 + static_cast<int>(Uniform(0, 1))) % static_cast<int>(kLayouts.size());
      ResetValues(s);
    } else if (s.kind == Kind::kExpHistogram && s.scale > -2 && Chance(o_.layout_change_p)) {
      --s.scale;
      s.min_index >>= 1;
      for (auto* side : {&s.positive, &s.negative}) {
        std::map<int32_t, uint64_t> merged;
        for (const auto& [index, count] : *side) merged[index >> 1] += count;
        *side = std::move(merged);
      }
    } else if (s.kind == Kind::kExpHistogram && Chance(o_.zero_threshold_p)) {
      // A threshold inside bucket j (never on a boundary): buckets up to j
      // merge into the zero bucket.
      const int32_t j = s.min_index + static_cast<int32_t>(Uniform(0, 3));
      s.zero_threshold = std::exp2((j + 0.5) / std::exp2(s.scale));
      for (auto* side : {&s.positive, &s.negative}) {
        for (auto it = side->begin(); it != side->end() && it->first <= j;) {
          s.zero_count += it->second;
          it = side->erase(it);
        }
      }
      s.min_index = j + 1;
    }
    s.int_value += static_cast<int64_t>(Uniform(0, 5));
    s.double_value += static_cast<double>(Uniform(0, 20)) * 0.125;
    Observe(s);
  }

  void Shuffled(const std::vector<std::pair<std::string, std::string>>& attrs,
                google::protobuf::RepeatedPtrField<KeyValue>* out) {
    std::vector<std::pair<std::string, std::string>> order = attrs;
    std::shuffle(order.begin(), order.end(), rng_);
    for (const auto& [k, v] : order) {
      KeyValue* kv = out->Add();
      kv->set_key(k);
      kv->mutable_value()->set_string_value(v);
    }
  }

  static void Buckets(const std::map<int32_t, uint64_t>& side, otlp::ExponentialHistogramDataPoint::Buckets* out) {
    if (side.empty()) return;
    out->set_offset(side.begin()->first);
    for (int32_t i = side.begin()->first; i <= side.rbegin()->first; ++i) {
      auto it = side.find(i);
      out->add_bucket_counts(it == side.end() ? 0 : it->second);
    }
  }

  template <typename Point>
  void Common(const Series& s, Point* p) {
    p->set_start_time_unix_nano(s.start);
    p->set_time_unix_nano(s.time);
    Shuffled(s.attrs, p->mutable_attributes());
    if (Chance(o_.no_recorded_value_p)) p->set_flags(otlp::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK);
  }

  Emitted Emit(Series& s) {
    Emitted e;
    e.series = s.id;
    e.service = s.service;
    e.scope = s.scope;
    e.time = s.time;
    otlp::Metric& m = e.metric;
    m.set_name(s.name);
    m.set_unit("1");
    switch (s.kind) {
      case Kind::kIntSum:
      case Kind::kDoubleSum:
      case Kind::kUpDown:
      case Kind::kDeltaSum: {
        otlp::Sum* sum = m.mutable_sum();
        sum->set_is_monotonic(s.kind != Kind::kUpDown);
        sum->set_aggregation_temporality(s.kind == Kind::kDeltaSum ? otlp::AGGREGATION_TEMPORALITY_DELTA
                                                                   : otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
        otlp::NumberDataPoint* p = sum->add_data_points();
        Common(s, p);
        if (s.kind == Kind::kIntSum) {
          p->set_as_int(s.int_value);
        } else if (s.kind == Kind::kDoubleSum && Chance(o_.nan_p)) {
          p->set_as_double(std::numeric_limits<double>::quiet_NaN());
        } else {
          p->set_as_double(s.kind == Kind::kUpDown ? s.double_value - 10 : s.double_value);
        }
        break;
      }
      case Kind::kGauge: {
        otlp::NumberDataPoint* p = m.mutable_gauge()->add_data_points();
        Common(s, p);
        p->set_as_double(s.double_value);
        break;
      }
      case Kind::kHistogram: {
        otlp::Histogram* h = m.mutable_histogram();
        h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
        otlp::HistogramDataPoint* p = h->add_data_points();
        Common(s, p);
        p->set_count(s.count);
        p->set_sum(s.sum);
        p->set_min(0);
        p->set_max(25);
        for (double b : kLayouts[s.layout]) p->add_explicit_bounds(b);
        for (uint64_t c : s.buckets) p->add_bucket_counts(c);
        break;
      }
      case Kind::kExpHistogram: {
        otlp::ExponentialHistogram* h = m.mutable_exponential_histogram();
        h->set_aggregation_temporality(otlp::AGGREGATION_TEMPORALITY_CUMULATIVE);
        otlp::ExponentialHistogramDataPoint* p = h->add_data_points();
        Common(s, p);
        p->set_count(s.count);
        p->set_sum(s.sum);
        p->set_scale(s.scale);
        p->set_zero_count(s.zero_count);
        p->set_zero_threshold(s.zero_threshold);
        Buckets(s.positive, p->mutable_positive());
        Buckets(s.negative, p->mutable_negative());
        p->set_min(-1);
        p->set_max(30);
        break;
      }
    }
    return e;
  }

  void Disorder(std::vector<Emitted>& points) {
    for (size_t i = 0; i < points.size(); ++i) {
      if (Chance(o_.out_of_order_p)) {
        for (size_t j = i + 1; j < points.size(); ++j) {
          if (points[j].series == points[i].series) {
            std::swap(points[i], points[j]);
            break;
          }
        }
      }
    }
    for (size_t i = 0; i < points.size(); ++i) {
      if (Chance(o_.duplicate_p)) {
        const size_t at = std::min(points.size(), i + 1 + Uniform(0, 4));
        Emitted copy = points[i];
        points.insert(points.begin() + static_cast<std::ptrdiff_t>(at), std::move(copy));
        ++i;
      }
    }
  }

  std::vector<ExportMetricsServiceRequest> Pack(const std::vector<Emitted>& points) {
    std::vector<ExportMetricsServiceRequest> requests;
    size_t i = 0;
    while (i < points.size()) {
      const size_t n = std::min(points.size() - i, Uniform(1, static_cast<uint64_t>(o_.max_points_per_request)));
      ExportMetricsServiceRequest r;
      std::map<int, otlp::ResourceMetrics*> resources;
      std::map<std::pair<int, int>, otlp::ScopeMetrics*> scopes;
      for (size_t k = i; k < i + n; ++k) {
        const Emitted& e = points[k];
        otlp::ResourceMetrics*& rm = resources[e.service];
        if (rm == nullptr) {
          rm = r.add_resource_metrics();
          Shuffled({{"service.name", absl::StrCat("svc-", e.service)}, {"host.name", absl::StrCat("h", e.service)}},
                   rm->mutable_resource()->mutable_attributes());
        }
        otlp::ScopeMetrics*& sm = scopes[{e.service, e.scope}];
        if (sm == nullptr) {
          sm = rm->add_scope_metrics();
          sm->mutable_scope()->set_name(absl::StrCat("meter-", e.scope));
          sm->mutable_scope()->set_version("1.0");
        }
        // Consecutive points of one metric share its Metric message.
        otlp::Metric* last = sm->metrics_size() > 0 ? sm->mutable_metrics(sm->metrics_size() - 1) : nullptr;
        if (last != nullptr && last->name() == e.metric.name() && last->data_case() == e.metric.data_case() &&
            last->data_case() != otlp::Metric::kGauge) {
          last->MergeFrom(e.metric);
        } else {
          *sm->add_metrics() = e.metric;
        }
      }
      requests.push_back(std::move(r));
      i += n;
    }
    return requests;
  }

  const StreamOptions o_;
  std::mt19937_64 rng_;
};

}  // namespace

std::vector<ExportMetricsServiceRequest> GenerateStreams(const StreamOptions& options) {
  return Generator(options).Run();
}

}  // namespace gateway::testing
