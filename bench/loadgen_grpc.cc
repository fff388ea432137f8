#include "bench/loadgen_grpc.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace loadgen {
namespace {

const std::string kExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

bool IsBackpressureGrpc(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "OTHER";
  }
}

// Counts slots that have a request in flight and lets the main thread wait
// for all of them to finish.
class InFlight {
 public:
  void Add() {
    std::lock_guard<std::mutex> lock(mu_);
    ++active_;
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--active_ == 0) cv_.notify_all();
  }
  // True when nothing is in flight before `deadline`.
  bool WaitIdle(SteadyClock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return active_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
};

class GrpcDriver final : public LoadDriver {
 public:
  GrpcDriver(const RunOptions& options, const RequestPool& pool) : options_(options), pool_(pool) {
    for (int c = 0; c < std::max(1, options.connections); ++c) {
      grpc::ChannelArguments args;
      // Separate subchannels, hence separate connections, per channel.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("loadgen.channel", c);
      args.SetMaxSendMessageSize(-1);
      auto channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
      channels_.push_back(channel);
      stubs_.push_back(std::make_unique<grpc::GenericStub>(channel));
    }
    slots_.resize(static_cast<size_t>(options.concurrency));
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i].stub = stubs_[i % stubs_.size()].get();
  }

  bool Connect(SteadyClock::time_point deadline) override {
    const auto system_deadline =
        std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                               deadline - SteadyClock::now());
    for (auto& channel : channels_) {
      if (!channel->WaitForConnected(system_deadline)) return false;
    }
    return true;
  }

  bool Run(Schedule& schedule) override {
    schedule_ = &schedule;
    if (options_.rate > 0) {
      for (auto& slot : slots_) free_.push_back(&slot);
      RunOpenLoop();
    } else {
      for (auto& slot : slots_) {
        uint64_t index;
        if (!schedule.Next(&index)) break;
        in_flight_.Add();
        Start(&slot, index, SteadyClock::now());
      }
    }
    return in_flight_.WaitIdle(schedule.end() + options_.timeout + std::chrono::seconds(5));
  }

  SlotStats Stats() const override {
    SlotStats total;
    for (const auto& slot : slots_) total.Merge(slot.stats);
    total.errors["missed_ticks"] += missed_ticks_;
    if (total.errors["missed_ticks"] == 0) total.errors.erase("missed_ticks");
    return total;
  }

 private:
  struct Slot {
    grpc::GenericStub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    std::string body;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    SteadyClock::time_point start;
    int spans = 0;
    SlotStats stats;
  };

  void RunOpenLoop() {
    for (uint64_t tick = 0;; ++tick) {
      const SteadyClock::time_point at = schedule_->TickTime(tick);
      if (at >= schedule_->end()) break;
      std::this_thread::sleep_until(at);
      uint64_t index;
      if (!schedule_->Next(&index)) break;
      Slot* slot = nullptr;
      {
        std::lock_guard<std::mutex> lock(free_mu_);
        if (!free_.empty()) {
          slot = free_.back();
          free_.pop_back();
        }
      }
      if (slot == nullptr) {
        ++missed_ticks_;
        continue;
      }
      in_flight_.Add();
      Start(slot, index, at);
    }
  }

  void Start(Slot* slot, uint64_t index, SteadyClock::time_point start) {
    slot->spans = RenderSend(pool_, options_.unique_ids, index, &slot->body);
    grpc::Slice slice(slot->body);
    slot->request = grpc::ByteBuffer(&slice, 1);
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
    slot->start = start;
    slot->stub->UnaryCall(slot->context.get(), kExportMethod, grpc::StubOptions(), &slot->request, &slot->response,
                          [this, slot](grpc::Status status) { OnDone(slot, status); });
  }

  void OnDone(Slot* slot, const grpc::Status& status) {
    const uint32_t latency = MicrosSince(slot->start);
    SlotStats& stats = slot->stats;
    ++stats.requests;
    if (status.ok()) {
      ++stats.ok;
      stats.spans_ok += slot->spans;
      stats.bytes_ok += static_cast<int64_t>(slot->body.size());
      stats.latency_us.push_back(latency);
    } else {
      ++stats.errors[absl::StrCat("grpc_", GrpcCodeName(status.error_code()))];
      if (IsBackpressureGrpc(status.error_code())) ++stats.backpressure;
      stats.error_latency_us.push_back(latency);
    }
    if (options_.rate > 0) {
      {
        std::lock_guard<std::mutex> lock(free_mu_);
        free_.push_back(slot);
      }
      in_flight_.Done();
      return;
    }
    uint64_t index;
    if (schedule_->Next(&index)) {
      Start(slot, index, SteadyClock::now());
    } else {
      in_flight_.Done();
    }
  }

  const RunOptions& options_;
  const RequestPool& pool_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<Slot> slots_;
  Schedule* schedule_ = nullptr;
  InFlight in_flight_;
  std::mutex free_mu_;
  std::vector<Slot*> free_;
  int64_t missed_ticks_ = 0;  // pacer thread only
};

}  // namespace

std::unique_ptr<LoadDriver> NewGrpcDriver(const RunOptions& options, const RequestPool& pool) {
  return std::make_unique<GrpcDriver>(options, pool);
}

}  // namespace loadgen
