#include "pipeline/base/clock.h"

namespace gateway {
namespace {

class RealClockImpl final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

std::unique_ptr<Clock> NewRealClock() { return std::make_unique<RealClockImpl>(); }

Clock& RealClock() {
  static RealClockImpl* clock = new RealClockImpl();
  return *clock;
}

}  // namespace gateway
