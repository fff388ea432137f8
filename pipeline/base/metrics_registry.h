// The gateway's own metrics: counters and gauges, rendered as Prometheus text.
//
// Components register what they count once, at construction, and keep the
// returned pointer; incrementing is a relaxed atomic add, safe from any
// thread. Registering the same name and labels twice returns the same Counter.
//
//   MetricsRegistry registry;
//   Counter* received = registry.GetCounter(
//       "gateway_spans_received_total", "Spans accepted by a receiver",
//       {{"transport", "grpc"}});
//   received->Add(n);
//   registry.AddGauge("gateway_held_spans", "Spans waiting for their parent", {},
//                     [&engine] { return double(engine.HeldSpans()); });
//   std::string text = registry.RenderPrometheus();
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/base/sync.h"

namespace gateway {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter final {
 public:
  void Add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // Own cache line: counters are bumped from several threads.
  alignas(64) std::atomic<int64_t> value_{0};
};

class MetricsRegistry final {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the counter for `name` with `labels`, creating it. The pointer
  // lives as long as the registry. Thread-safe.
  Counter* GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});

  // Registers a gauge whose value is read at render time. `read` must be
  // safe to call from the admin thread for as long as the registry lives.
  void AddGauge(const std::string& name, const std::string& help, const MetricLabels& labels,
                std::function<double()> read);

  // Current value of a counter, 0 if it was never registered; for tests and
  // the status page.
  int64_t CounterValue(const std::string& name, const MetricLabels& labels = {}) const;

  // Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::function<double()>> gauges;
  };

  mutable Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway
