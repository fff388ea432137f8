#include "tests/fakes/fake_ingest.h"

#include <functional>
#include <utility>

namespace gateway::testing {

IngestResult FakeIngest::Accept(Signal signal, std::string request) {
  Hook hook;
  IngestResult result;
  {
    MutexLock lock(&mu_);
    hook = hook_;
    result = result_;
  }
  if (hook) result = hook(signal, request);
  MutexLock lock(&mu_);
  calls_.push_back({signal, std::move(request)});
  return result;
}

bool FakeIngest::Ready() const {
  MutexLock lock(&mu_);
  return ready_;
}

void FakeIngest::SetResult(IngestResult result) {
  MutexLock lock(&mu_);
  result_ = std::move(result);
}

void FakeIngest::SetHook(Hook hook) {
  MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

void FakeIngest::SetReady(bool ready) {
  MutexLock lock(&mu_);
  ready_ = ready;
}

std::vector<FakeIngest::Call> FakeIngest::Calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

size_t FakeIngest::CallCount() const {
  MutexLock lock(&mu_);
  return calls_.size();
}

bool FakeIngest::WaitForCalls(size_t n, absl::Duration timeout) const {
  MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= n; };
  return mu_.AwaitWithTimeout(enough, timeout);
}

namespace {

class FakeHold final : public ReceiveHold {
 public:
  FakeHold(std::function<bool(int64_t)> grow, std::function<bool(int64_t)> no_room_yet)
      : grow_(std::move(grow)), no_room_yet_(std::move(no_room_yet)) {}
  bool GrowTo(int64_t bytes) override { return grow_(bytes); }
  bool NoRoomYetToGrowTo(int64_t bytes) const override { return no_room_yet_(bytes); }

 private:
  std::function<bool(int64_t)> grow_;
  std::function<bool(int64_t)> no_room_yet_;
};

}  // namespace

std::unique_ptr<ReceiveHold> FakeIngest::HoldForReceive(int64_t bytes) {
  MutexLock lock(&mu_);
  holds_.push_back(bytes);
  if (!receive_room_) return nullptr;
  return std::make_unique<FakeHold>(
      [this](int64_t total) {
        MutexLock lock(&mu_);
        holds_.push_back(total);
        return receive_room_;
      },
      [this](int64_t total) { return NoRoomYet(total); });
}

bool FakeIngest::NoRoomYet(int64_t bytes) const {
  MutexLock lock(&mu_);
  room_asked_.push_back(bytes);
  return budget_full_;
}

void FakeIngest::AwaitRoom(int64_t bytes, absl::Duration timeout) {
  MutexLock lock(&mu_);
  room_awaited_.push_back(bytes);
  const uint64_t seen = room_signals_;
  mu_.AwaitWithTimeout([this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return room_signals_ != seen; }, timeout);
}

void FakeIngest::SignalRoom() {
  MutexLock lock(&mu_);
  ++room_signals_;
}

std::vector<int64_t> FakeIngest::RoomAwaited() const {
  MutexLock lock(&mu_);
  return room_awaited_;
}

std::vector<int64_t> FakeIngest::RoomAsked() const {
  MutexLock lock(&mu_);
  return room_asked_;
}

void FakeIngest::SetBudgetFull(bool full) {
  MutexLock lock(&mu_);
  budget_full_ = full;
}

void FakeIngest::SetReceiveRoom(bool room) {
  MutexLock lock(&mu_);
  receive_room_ = room;
}

std::vector<int64_t> FakeIngest::Holds() const {
  MutexLock lock(&mu_);
  return holds_;
}

}  // namespace gateway::testing
