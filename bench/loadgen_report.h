// The load generator's measurements and report: CPU time and peak RSS of a
// process from /proc, and the run's results as a human table and as one JSON
// object (the line scripts/bench.sh and the smoke test read).
//
//   RunReport report;  // filled in after the run
//   FormattedReport text = FormatReport(std::move(report));
//   std::fputs(text.table.c_str(), stderr);
//   std::printf("%s\n", text.json.c_str());
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/loadgen_requests.h"
#include "bench/loadgen_run.h"

namespace loadgen {

// utime + stime of `pid` in seconds; -1 when unreadable.
double ProcessCpuSeconds(int pid);

// A "Vm...:  N kB" line of /proc/pid/status in MiB; -1 when unreadable.
double ProcessStatusMiB(int pid, const std::string& key);

// This process's user + system CPU time in seconds.
double SelfCpuSeconds();

struct RunReport {
  // Free text copied into the JSON.
  std::string label;
  // "grpc", "http" or "http-json".
  std::string protocol;
  RunOptions options;
  LoadShape shape;
  size_t pool_size = 0;
  int64_t pool_bytes = 0;
  double elapsed_s = 0;
  SlotStats stats;
  double loadgen_cpu_s = 0;
  // The measured process; 0: none, and the gateway_* fields are not shown.
  int gateway_pid = 0;
  // CPU seconds the process used during the run; -1 when unknown.
  double gateway_cpu_s = -1;
  // VmHWM and VmRSS after the run; -1 when unknown.
  double gateway_max_rss_mib = -1;
  double gateway_rss_mib = -1;
};

struct FormattedReport {
  std::string table;  // lines ending in "\n"
  std::string json;   // one object, no newline
};

// Latency percentiles come from the successful requests, or from the failed
// ones when none succeeded; "missed_ticks" are listed but not counted as
// errors.
FormattedReport FormatReport(RunReport report);

}  // namespace loadgen
