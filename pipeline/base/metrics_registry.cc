#include "pipeline/base/metrics_registry.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace gateway {
namespace {

// Exact for whole numbers (byte gauges pass a million, where StrCat's six
// significant digits would round them); 17 significant digits otherwise.
std::string RenderGaugeValue(double v) {
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 9.0e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%.17g", v);
}

std::string RenderLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, labels[i].first, "=\"",
                    absl::StrReplaceAll(labels[i].second, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
                    "\"");
  }
  out += "}";
  return out;
}

}  // namespace

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const MetricLabels& labels) {
  MutexLock lock(&mu_);
  Family& family = families_[name];
  if (family.help.empty()) family.help = help;
  family.is_counter = true;
  std::unique_ptr<Counter>& counter = family.counters[labels];
  if (counter == nullptr) counter = std::make_unique<Counter>();
  return counter.get();
}

void MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                               const MetricLabels& labels, std::function<double()> read) {
  MutexLock lock(&mu_);
  Family& family = families_[name];
  if (family.help.empty()) family.help = help;
  family.is_counter = false;
  family.gauges[labels] = std::move(read);
}

int64_t MetricsRegistry::CounterValue(const std::string& name, const MetricLabels& labels) const {
  MutexLock lock(&mu_);
  auto family = families_.find(name);
  if (family == families_.end()) return 0;
  auto counter = family->second.counters.find(labels);
  return counter == family->second.counters.end() ? 0 : counter->second->Value();
}

std::string MetricsRegistry::RenderPrometheus() const {
  MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", family.help, "\n# TYPE ", name, " ",
                    family.is_counter ? "counter" : "gauge", "\n");
    for (const auto& [labels, counter] : family.counters) {
      absl::StrAppend(&out, name, RenderLabels(labels), " ", counter->Value(), "\n");
    }
    for (const auto& [labels, read] : family.gauges) {
      absl::StrAppend(&out, name, RenderLabels(labels), " ", RenderGaugeValue(read()), "\n");
    }
  }
  return out;
}

}  // namespace gateway
