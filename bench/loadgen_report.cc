#include "bench/loadgen_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace loadgen {
namespace {

double PercentileMs(std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i] / 1000.0;
}

std::string JsonNumber(double v) { return absl::StrFormat("%.6g", v); }

}  // namespace

double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return -1;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> tokens;
  for (std::string t; fields >> t;) tokens.push_back(t);
  // tokens[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (tokens.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(tokens[11]) + std::stod(tokens[12])) / ticks;
}

double ProcessStatusMiB(int pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':') {
      return std::stod(line.substr(key.size() + 1)) / 1024.0;
    }
  }
  return -1;
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

FormattedReport FormatReport(RunReport r) {
  const RunOptions& options = r.options;
  const LoadShape& shape = r.shape;
  const std::string& protocol = r.protocol;
  SlotStats& stats = r.stats;
  const double elapsed = r.elapsed_s;
  const double self_cpu = r.loadgen_cpu_s;
  const int gateway_pid = r.gateway_pid;
  const double gateway_cpu = r.gateway_cpu_s;
  const double gateway_rss = r.gateway_max_rss_mib;
  const double gateway_rss_now = r.gateway_rss_mib;
  std::vector<uint32_t>& latencies = stats.latency_us.empty() ? stats.error_latency_us : stats.latency_us;
  std::sort(latencies.begin(), latencies.end());
  const double p50 = PercentileMs(latencies, 0.50);
  const double p90 = PercentileMs(latencies, 0.90);
  const double p99 = PercentileMs(latencies, 0.99);
  const double max = latencies.empty() ? 0 : latencies.back() / 1000.0;
  int64_t errors = 0;
  for (const auto& [code, n] : stats.errors) {
    if (code != "missed_ticks") errors += n;
  }
  const double rps = stats.ok / elapsed;
  const double sps = stats.spans_ok / elapsed;
  const double mbps = stats.bytes_ok / elapsed / 1e6;
  const double cpu_per_million = gateway_cpu >= 0 && stats.spans_ok > 0 ? gateway_cpu / (stats.spans_ok / 1e6) : -1;

  std::string table;
  absl::StrAppendFormat(&table, "target            %s (%s), concurrency %d, %d connection(s)%s\n", options.target,
                        protocol, options.concurrency, protocol == "grpc" ? options.connections : options.concurrency,
                        options.rate > 0 ? absl::StrFormat(", open loop %.0f req/s", options.rate) : "");
  absl::StrAppendFormat(&table, "request shape     %d spans x ~%d B, consumer share %.2f%s; pool %d bodies, %.1f KB avg\n",
                        shape.spans_per_request, shape.span_bytes, shape.consumer_share,
                        shape.out_of_order ? ", out of order" : "", static_cast<int>(r.pool_size),
                        r.pool_bytes / 1024.0 / static_cast<double>(r.pool_size));
  absl::StrAppendFormat(&table, "elapsed           %.2f s\n", elapsed);
  absl::StrAppendFormat(&table, "requests          %d sent, %d ok, %d errors (%d backpressure)\n", stats.requests,
                        stats.ok, errors, stats.backpressure);
  absl::StrAppendFormat(&table, "throughput        %.0f req/s, %.0f spans/s, %.1f MB/s\n", rps, sps, mbps);
  absl::StrAppendFormat(&table, "latency (ms)      p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, max);
  for (const auto& [code, n] : stats.errors) absl::StrAppendFormat(&table, "  %-26s %d\n", code, n);
  absl::StrAppendFormat(&table, "load generator    %.2f CPU s\n", self_cpu);
  if (gateway_pid > 0) {
    absl::StrAppendFormat(&table, "gateway pid %d    %.2f CPU s, %.2f CPU s per million spans, max RSS %.1f MiB\n",
                          gateway_pid, gateway_cpu, cpu_per_million, gateway_rss);
  }

  std::string json = "{";
  absl::StrAppend(&json, "\"label\":\"", r.label, "\",\"protocol\":\"", protocol,
                  "\",\"target\":\"", options.target, "\",\"concurrency\":", options.concurrency,
                  ",\"connections\":", protocol == "grpc" ? options.connections : options.concurrency,
                  ",\"rate\":", JsonNumber(options.rate), ",\"spans_per_request\":", shape.spans_per_request,
                  ",\"span_bytes\":", shape.span_bytes,
                  ",\"attribute_bytes\":", shape.attribute_bytes,
                  ",\"consumer_share\":", JsonNumber(shape.consumer_share),
                  ",\"out_of_order\":", shape.out_of_order ? "true" : "false");
  absl::StrAppend(&json, ",\"elapsed_s\":", JsonNumber(elapsed), ",\"requests\":", stats.requests,
                  ",\"requests_ok\":", stats.ok, ",\"spans_ok\":", stats.spans_ok, ",\"bytes_ok\":", stats.bytes_ok,
                  ",\"errors\":", errors, ",\"backpressure\":", stats.backpressure);
  absl::StrAppend(&json, ",\"requests_per_s\":", JsonNumber(rps), ",\"spans_per_s\":", JsonNumber(sps),
                  ",\"mb_per_s\":", JsonNumber(mbps), ",\"latency_ms\":{\"p50\":", JsonNumber(p50),
                  ",\"p90\":", JsonNumber(p90), ",\"p99\":", JsonNumber(p99), ",\"max\":", JsonNumber(max), "}");
  absl::StrAppend(&json, ",\"errors_by_code\":{");
  bool first = true;
  for (const auto& [code, n] : stats.errors) {
    absl::StrAppend(&json, first ? "" : ",", "\"", code, "\":", n);
    first = false;
  }
  absl::StrAppend(&json, "},\"loadgen_cpu_s\":", JsonNumber(self_cpu));
  if (gateway_pid > 0) {
    absl::StrAppend(&json, ",\"gateway_pid\":", gateway_pid, ",\"gateway_cpu_s\":", JsonNumber(gateway_cpu),
                    ",\"gateway_cpu_s_per_million_spans\":", JsonNumber(cpu_per_million),
                    ",\"gateway_max_rss_mib\":", JsonNumber(gateway_rss),
                    ",\"gateway_rss_mib\":", JsonNumber(gateway_rss_now));
  }
  absl::StrAppend(&json, "}");
  return {std::move(table), std::move(json)};
}

}  // namespace loadgen
