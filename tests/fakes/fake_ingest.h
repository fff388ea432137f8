// An Ingest that records every request and answers with a scripted result.
//
//   FakeIngest ingest;
//   ingest.SetResult({IngestOutcome::kOverloaded, 0, "", absl::Seconds(2)});
//   ... drive a receiver ...
//   ASSERT_TRUE(ingest.WaitForCalls(1, absl::Seconds(5)));
//   EXPECT_EQ(ingest.Calls()[0].signal, Signal::kTraces);
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/ingest/ingest.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

class FakeIngest final : public Ingest {
 public:
  struct Call {
    Signal signal;
    std::string request;
  };

  // Called for each request instead of returning the scripted result, when
  // set; runs on the receiver's thread, outside the fake's lock (it may block
  // to simulate a slow pipeline).
  using Hook = std::function<IngestResult(Signal, const std::string&)>;

  IngestResult Accept(Signal signal, std::string request) override;
  bool Ready() const override;
  // Null while SetReceiveRoom(false); the bytes asked are recorded, and so
  // are the totals its holds are grown to (GrowTo fails while there is no
  // room). Its holds' NoRoomYetToGrowTo is NoRoomYet of the total.
  std::unique_ptr<ReceiveHold> HoldForReceive(int64_t bytes) override;
  // What SetBudgetFull set (default false), whatever `bytes`, which are
  // recorded (RoomAsked).
  bool NoRoomYet(int64_t bytes) const override;
  // Waits until SignalRoom() or `timeout`; the bytes are recorded
  // (RoomAwaited).
  void AwaitRoom(int64_t bytes, absl::Duration timeout) override;

  // The result every later call returns (default: kAccepted, nothing rejected).
  void SetResult(IngestResult result);
  void SetHook(Hook hook);
  void SetReady(bool ready);
  void SetReceiveRoom(bool room);
  void SetBudgetFull(bool full);
  std::vector<int64_t> RoomAsked() const;
  // Wakes every thread in AwaitRoom, as a release that makes room would.
  void SignalRoom();
  std::vector<int64_t> RoomAwaited() const;
  // Bytes asked of HoldForReceive and of its holds' GrowTo, in order.
  std::vector<int64_t> Holds() const;

  std::vector<Call> Calls() const;
  size_t CallCount() const;
  // True once at least `n` calls were recorded, false after `timeout`.
  bool WaitForCalls(size_t n, absl::Duration timeout) const;

 private:
  mutable Mutex mu_;
  IngestResult result_ ABSL_GUARDED_BY(mu_);
  Hook hook_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = true;
  bool receive_room_ ABSL_GUARDED_BY(mu_) = true;
  bool budget_full_ ABSL_GUARDED_BY(mu_) = false;
  mutable std::vector<int64_t> room_asked_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> room_awaited_ ABSL_GUARDED_BY(mu_);
  uint64_t room_signals_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int64_t> holds_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
