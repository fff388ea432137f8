#include "pipeline/ingest/memory_guard.h"

#include <malloc.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/thread_name.h"

namespace gateway {
namespace {

constexpr absl::Duration kLogInterval = absl::Seconds(10);

}  // namespace

MemoryGuard::MemoryGuard(const MemoryGuardOptions& options, ResidentMemory& memory, MemoryBudget& budget,
                         MetricsRegistry& metrics, std::function<void()> trim)
    : options_(options),
      memory_(memory),
      budget_(budget),
      trim_(trim ? std::move(trim) : std::function<void()>([] { malloc_trim(0); })),
      trims_(metrics.GetCounter("gateway_memory_trims_total",
                                "Times free heap was handed back to the OS near the process memory limit")),
      pressure_episodes_(metrics.GetCounter("gateway_memory_pressure_total",
                                            "Times the process memory limit made the receivers push back")) {
  metrics.AddGauge("gateway_process_resident_bytes", "Resident memory of the gateway process", {},
                   [this] { return static_cast<double>(LastResidentBytes()); });
  metrics.AddGauge("gateway_process_memory_limit_bytes", "Bound on the gateway's resident memory", {},
                   [limit = options.limit_bytes] { return static_cast<double>(limit); });
}

MemoryGuard::~MemoryGuard() { Stop(); }

void MemoryGuard::Start() {
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this] {
    do {
      Sample(absl::Now());
    } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
  });
  SetThreadName(thread_, "memory-guard");
}

void MemoryGuard::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  budget_.SetPressure(false);
}

void MemoryGuard::Sample(absl::Time now) {
  int64_t resident = memory_.ResidentBytes();
  if (resident < 0) return;
  const double limit = static_cast<double>(options_.limit_bytes);
  if (resident >= options_.trim_fraction * limit && now - last_trim_ >= options_.min_trim_interval) {
    last_trim_ = now;
    trim_();
    trims_->Add();
    const int64_t after = memory_.ResidentBytes();
    if (after >= 0) resident = after;
  }
  last_resident_.store(resident, std::memory_order_relaxed);
  const bool on = budget_.UnderPressure();
  if (!on && resident >= options_.refuse_fraction * limit) {
    budget_.SetPressure(true);
    pressure_episodes_->Add();
    ++episodes_since_log_;
    // Sustained overload flips the pressure several times a second: one
    // line per episode would flood the log.
    if (now - last_log_ >= kLogInterval) {
      LogWarn("memory_pressure", {{"resident_bytes", absl::StrCat(resident)},
                                  {"limit_bytes", absl::StrCat(options_.limit_bytes)},
                                  {"episodes", absl::StrCat(episodes_since_log_)},
                                  {"action", "refusing new requests until memory falls"}});
      last_log_ = now;
      episodes_since_log_ = 0;
    }
  } else if (on && resident < options_.resume_fraction * limit) {
    budget_.SetPressure(false);
  }
}

}  // namespace gateway
