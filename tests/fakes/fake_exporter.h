// An Exporter that keeps every request in memory, for tests.
//
//   FakeExporter exporter;
//   ... pipeline hands requests to exporter ...
//   ASSERT_TRUE(exporter.WaitForItems(10, absl::Now() + absl::Seconds(10)));
//   std::vector<std::string> bodies = exporter.Bodies();
//
// By default on_done is called at once with kDelivered; with
// set_complete_immediately(false) requests stay pending until CompleteAll().
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "pipeline/export/exporter.h"
#include "pipeline/base/sync.h"

namespace gateway::testing {

class FakeExporter final : public Exporter {
 public:
  FakeExporter() = default;

  void Export(ExportRequest request) override;
  int64_t QueuedBytes() const override;
  bool Healthy() const override;
  absl::Status Shutdown(absl::Time deadline) override;
  // Waits until no request is pending (CompleteAll) or `deadline` passes.
  int64_t Flush(absl::Time deadline) override;

  // Waits until at least `items` items (spans, points, records) in total have
  // been exported, or `deadline` passes. True if they were.
  bool WaitForItems(int64_t items, absl::Time deadline) const;
  // Waits until at least `requests` requests have been exported.
  bool WaitForRequests(int64_t requests, absl::Time deadline) const;

  // Copies of the bodies, signals and item counts seen so far, in order.
  std::vector<std::string> Bodies() const;
  std::vector<Signal> Signals() const;
  std::vector<absl::Time> OldestItemTimes() const;
  int64_t Items() const;
  int64_t Requests() const;
  // Flush calls so far.
  int64_t Flushes() const;
  bool shut_down() const;

  // When false, on_done callbacks run only in CompleteAll.
  void set_complete_immediately(bool on);
  // Calls every pending on_done with `result`. Returns how many.
  int CompleteAll(ExportResult result = ExportResult{});
  void set_healthy(bool healthy);

 private:
  struct Seen {
    Signal signal;
    std::string body;
    int64_t items;
    absl::Time oldest_item_time;
  };

  mutable Mutex mu_;
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<ExportRequest> pending_ ABSL_GUARDED_BY(mu_);
  int64_t items_ ABSL_GUARDED_BY(mu_) = 0;
  bool complete_immediately_ ABSL_GUARDED_BY(mu_) = true;
  bool healthy_ ABSL_GUARDED_BY(mu_) = true;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int64_t flushes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace gateway::testing
