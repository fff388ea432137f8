#include "tests/fakes/fake_exporter.h"

#include <utility>

namespace gateway::testing {

void FakeExporter::Export(ExportRequest request) {
  absl::AnyInvocable<void(ExportResult)> done;
  {
    MutexLock lock(&mu_);
    seen_.push_back(Seen{request.signal, request.body, request.items, request.oldest_item_time});
    items_ += request.items;
    if (complete_immediately_) {
      done = std::move(request.on_done);
    } else {
      pending_.push_back(std::move(request));
    }
  }
  // Outside the lock: on_done may call back into the pipeline.
  if (done) done(ExportResult{});
}

int64_t FakeExporter::QueuedBytes() const {
  MutexLock lock(&mu_);
  int64_t bytes = 0;
  for (const ExportRequest& r : pending_) bytes += static_cast<int64_t>(r.body.size());
  return bytes;
}

bool FakeExporter::Healthy() const {
  MutexLock lock(&mu_);
  return healthy_;
}

absl::Status FakeExporter::Shutdown(absl::Time deadline) {
  MutexLock lock(&mu_);
  shut_down_ = true;
  return absl::OkStatus();
}

int64_t FakeExporter::Flush(absl::Time deadline) {
  {
    MutexLock lock(&mu_);
    ++flushes_;
    mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_.empty(); }, deadline);
  }
  return QueuedBytes();
}

int64_t FakeExporter::Flushes() const {
  MutexLock lock(&mu_);
  return flushes_;
}

bool FakeExporter::WaitForItems(int64_t items, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto reached = [this, items]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return items_ >= items; };
  return mu_.AwaitWithDeadline(reached, deadline);
}

bool FakeExporter::WaitForRequests(int64_t requests, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto reached = [this, requests]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return static_cast<int64_t>(seen_.size()) >= requests;
  };
  return mu_.AwaitWithDeadline(reached, deadline);
}

std::vector<std::string> FakeExporter::Bodies() const {
  MutexLock lock(&mu_);
  std::vector<std::string> bodies;
  bodies.reserve(seen_.size());
  for (const Seen& s : seen_) bodies.push_back(s.body);
  return bodies;
}

std::vector<Signal> FakeExporter::Signals() const {
  MutexLock lock(&mu_);
  std::vector<Signal> signals;
  for (const Seen& s : seen_) signals.push_back(s.signal);
  return signals;
}

std::vector<absl::Time> FakeExporter::OldestItemTimes() const {
  MutexLock lock(&mu_);
  std::vector<absl::Time> times;
  for (const Seen& s : seen_) times.push_back(s.oldest_item_time);
  return times;
}

int64_t FakeExporter::Items() const {
  MutexLock lock(&mu_);
  return items_;
}

int64_t FakeExporter::Requests() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(seen_.size());
}

bool FakeExporter::shut_down() const {
  MutexLock lock(&mu_);
  return shut_down_;
}

void FakeExporter::set_complete_immediately(bool on) {
  MutexLock lock(&mu_);
  complete_immediately_ = on;
}

int FakeExporter::CompleteAll(ExportResult result) {
  std::vector<ExportRequest> pending;
  {
    MutexLock lock(&mu_);
    pending.swap(pending_);
  }
  for (ExportRequest& r : pending) {
    if (r.on_done) r.on_done(result);
  }
  return static_cast<int>(pending.size());
}

void FakeExporter::set_healthy(bool healthy) {
  MutexLock lock(&mu_);
  healthy_ = healthy;
}

}  // namespace gateway::testing
