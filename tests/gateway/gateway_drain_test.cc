// GatewayApp::BeginDrain: the readiness a trace-affine tier follows goes to
// 503 while the gateway keeps receiving and resolving, so that spans routed
// here during the resolver's lag are not refused (docs/scale-out.md).
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "gateway/gateway_app.h"
#include "tests/reliability/reliability_env.h"

namespace gateway {
namespace {

using ::gateway::reliability::GrpcExportRaw;
using ::gateway::reliability::HttpGet;
using ::gateway::reliability::HttpPost;
using ::gateway::reliability::kTraceExport;
using ::gateway::reliability::ReliabilityConfig;
using ::gateway::reliability::SpanFactory;
using ::gateway::reliability::SpanIdCounts;
using ::gateway::testing::FakeDynatrace;
using ::gateway::testing::RawHttpResponse;
using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using ::opentelemetry::proto::trace::v1::Span;

class GatewayDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeDynatrace>> fake = FakeDynatrace::Start({});
    ASSERT_TRUE(fake.ok()) << fake.status();
    dynatrace_ = *std::move(fake);
    GatewayConfig config = ReliabilityConfig(*dynatrace_);
    config.reparent.cross_process = true;
    config.reparent.hold_window = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<GatewayApp>> app = StartGateway(config, {});
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = *std::move(app);
  }

  std::unique_ptr<FakeDynatrace> dynatrace_;
  std::unique_ptr<GatewayApp> app_;
};

TEST_F(GatewayDrainTest, ReadinessGoesAwayWhileReceiversKeepAcceptingAndResolving) {
  ASSERT_EQ(HttpGet(app_->admin_port(), "/readyz").status, 200);

  // A child held before the drain, waiting for its consumer parent.
  const std::string producer_trace = SpanFactory::IdBytes(0xa1, 1);
  const std::string consumer_trace = SpanFactory::IdBytes(0xc1, 1);
  ExportTraceServiceRequest child_request;
  Span* child = child_request.add_resource_spans()->add_scope_spans()->add_spans();
  child->set_trace_id(consumer_trace);
  child->set_span_id(SpanFactory::IdBytes(2));
  child->set_parent_span_id(SpanFactory::IdBytes(1));
  child->set_name("db.query");
  ASSERT_TRUE(GrpcExportRaw(app_->grpc_port(), kTraceExport, child_request.SerializeAsString()).ok());

  app_->BeginDrain();
  app_->BeginDrain();  // idempotent
  const RawHttpResponse ready = HttpGet(app_->admin_port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("draining"), std::string::npos) << ready.body;
  EXPECT_EQ(HttpGet(app_->admin_port(), "/healthz").status, 200);

  // During the drain both receivers accept, and the consumer that arrives
  // now still takes its held child along.
  ExportTraceServiceRequest consumer_request;
  Span* consumer = consumer_request.add_resource_spans()->add_scope_spans()->add_spans();
  consumer->set_trace_id(consumer_trace);
  consumer->set_span_id(SpanFactory::IdBytes(1));
  consumer->set_kind(Span::SPAN_KIND_CONSUMER);
  consumer->set_name("process");
  auto* link = consumer->add_links();
  link->set_trace_id(producer_trace);
  link->set_span_id(SpanFactory::IdBytes(0xaa));
  EXPECT_EQ(HttpPost(app_->http_port(), "/v1/traces", "application/x-protobuf", consumer_request.SerializeAsString())
                .status,
            200);
  SpanFactory more(100);
  EXPECT_TRUE(GrpcExportRaw(app_->grpc_port(), kTraceExport, more.Request(5).SerializeAsString()).ok());

  ASSERT_TRUE(dynatrace_->WaitForSpans(7, absl::Now() + absl::Seconds(20)));
  int moved = 0;
  for (const auto& rs : dynatrace_->ReceivedSpans()) {
    for (const auto& ss : rs.scope_spans()) {
      for (const Span& span : ss.spans()) moved += span.trace_id() == producer_trace;
    }
  }
  EXPECT_EQ(moved, 2) << "consumer and its held child in the producer's trace";
  EXPECT_EQ(SpanIdCounts(*dynatrace_).size(), 7u);

  app_->Shutdown();
  EXPECT_EQ(HttpGet(app_->admin_port(), "/readyz").status, 0) << "admin closed after shutdown";
}

}  // namespace
}  // namespace gateway
