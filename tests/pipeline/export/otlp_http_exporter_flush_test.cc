// OtlpHttpExporter::Flush: returns once the target has everything, sends
// waiting retries without their backoff, and leaves what it could not
// deliver by the deadline queued for the next flush.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/export/otlp_http_exporter.h"
#include "pipeline/base/sync.h"
#include "pipeline/base/clock.h"
#include "tests/fakes/fake_dynatrace.h"

namespace gateway {
namespace {

using testing::FakeDynatrace;
namespace coltrace = opentelemetry::proto::collector::trace::v1;

constexpr char kToken[] = "dt0c01.FLUSHTESTTOKEN";

std::string TraceRequest(int n, int first_id) {
  coltrace::ExportTraceServiceRequest request;
  auto* ss = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < n; ++i) {
    auto* span = ss->add_spans();
    span->set_trace_id(std::string(16, '\x02'));
    const uint64_t id = static_cast<uint64_t>(first_id + i);
    span->set_span_id(std::string(reinterpret_cast<const char*>(&id), 8));
    span->set_name("work");
  }
  return request.SerializeAsString();
}

class OtlpHttpExporterFlushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeDynatrace::Options options;
    options.token = kToken;
    auto dt = FakeDynatrace::Start(options);
    ASSERT_TRUE(dt.ok()) << dt.status();
    dt_ = *std::move(dt);
    options_ = ForDynatrace(dt_->url(), kToken);
    options_.connect_timeout = absl::Seconds(2);
    options_.request_timeout = absl::Seconds(10);
    // Far longer than any test: a retry goes out before its backoff only
    // because a flush asks for it.
    options_.retry.initial_backoff = absl::Hours(1);
    options_.retry.max_backoff = absl::Hours(1);
    options_.retry.max_item_age = absl::Hours(100);
    options_.retry.jitter = 0;
  }
  void TearDown() override {
    exporter_.reset();
    dt_.reset();
  }

  void Export(int spans, int first_id) {
    ExportRequest request;
    request.signal = Signal::kTraces;
    request.body = TraceRequest(spans, first_id);
    request.items = spans;
    request.on_done = [this](ExportResult r) {
      MutexLock lock(&mu_);
      ++done_;
      if (r.outcome == ExportOutcome::kDelivered) ++delivered_;
    };
    exporter_->Export(std::move(request));
  }

  int delivered() {
    MutexLock lock(&mu_);
    return delivered_;
  }

  // Real time: the flush's retry interval is real time.
  Clock& clock_ = RealClock();
  MetricsRegistry registry_;
  std::unique_ptr<FakeDynatrace> dt_;
  OtlpHttpExporterOptions options_;
  std::unique_ptr<Exporter> exporter_;
  Mutex mu_;
  int done_ ABSL_GUARDED_BY(mu_) = 0;
  int delivered_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(OtlpHttpExporterFlushTest, ReturnsOnceTheTargetHasEverything) {
  exporter_ = NewOtlpHttpExporter(options_, registry_, clock_);
  for (int i = 0; i < 5; ++i) Export(10, i * 10 + 1);
  EXPECT_EQ(exporter_->Flush(absl::Now() + absl::Seconds(20)), 0);
  // Delivered before Flush returned, not merely soon after.
  EXPECT_EQ(dt_->SpanCount(), 50);
  EXPECT_EQ(delivered(), 5);
}

TEST_F(OtlpHttpExporterFlushTest, SendsAWaitingRetryWithoutItsBackoff) {
  dt_->PushResponse({.status = 503});
  exporter_ = NewOtlpHttpExporter(options_, registry_, clock_);
  Export(3, 1);
  ASSERT_TRUE(dt_->WaitForRequests(1, absl::Now() + absl::Seconds(20)));
  // The retry now waits an hour; the flush sends it at once.
  EXPECT_EQ(exporter_->Flush(absl::Now() + absl::Seconds(20)), 0);
  EXPECT_EQ(dt_->SpanCount(), 3);
  EXPECT_EQ(delivered(), 1);
}

TEST_F(OtlpHttpExporterFlushTest, WhatCannotBeDeliveredByTheDeadlineStaysForTheNextFlush) {
  dt_->GoDown();
  exporter_ = NewOtlpHttpExporter(options_, registry_, clock_);
  Export(4, 1);
  const absl::Time start = absl::Now();
  const int64_t left = exporter_->Flush(start + absl::Milliseconds(300));
  EXPECT_GT(left, 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "the flush keeps to its deadline";
  EXPECT_EQ(delivered(), 0);
  EXPECT_EQ(exporter_->QueuedBytes(), left);

  ASSERT_TRUE(dt_->ComeBack().ok());
  EXPECT_EQ(exporter_->Flush(absl::Now() + absl::Seconds(20)), 0);
  EXPECT_EQ(dt_->SpanCount(), 4);
  EXPECT_EQ(delivered(), 1);
}

TEST_F(OtlpHttpExporterFlushTest, RetryAfterIsHonouredEvenByAFlush) {
  dt_->PushResponse({.status = 429, .retry_after = "3600"});
  exporter_ = NewOtlpHttpExporter(options_, registry_, clock_);
  Export(2, 1);
  ASSERT_TRUE(dt_->WaitForRequests(1, absl::Now() + absl::Seconds(20)));
  EXPECT_GT(exporter_->Flush(absl::Now() + absl::Milliseconds(300)), 0);
  EXPECT_EQ(dt_->RequestCount(), 1) << "no second attempt within the hour the target asked for";
}

TEST_F(OtlpHttpExporterFlushTest, FlushWithNothingQueuedReturnsAtOnce) {
  exporter_ = NewOtlpHttpExporter(options_, registry_, clock_);
  const absl::Time start = absl::Now();
  EXPECT_EQ(exporter_->Flush(start + absl::Seconds(20)), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace gateway
