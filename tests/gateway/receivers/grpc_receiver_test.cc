#include "gateway/receivers/grpc_receiver.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "pipeline/base/metrics_registry.h"
#include "pipeline/base/sync.h"
#include "tests/fakes/fake_ingest.h"

namespace gateway {
namespace {

namespace trace_v1 = opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = opentelemetry::proto::collector::metrics::v1;
namespace logs_v1 = opentelemetry::proto::collector::logs::v1;

using testing::FakeIngest;

trace_v1::ExportTraceServiceRequest MakeTraces(int spans, size_t name_size = 8) {
  trace_v1::ExportTraceServiceRequest request;
  auto* scope_spans = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* span = scope_spans->add_spans();
    span->set_trace_id(std::string(16, static_cast<char>(i + 1)));
    span->set_span_id(std::string(8, static_cast<char>(i + 1)));
    span->set_name(std::string(name_size, 'n'));
  }
  return request;
}

// A refusal for lack of room in the memory budget (the kind a gRPC call
// waits out).
IngestResult NoRoom(absl::Duration retry_after) {
  IngestResult refused{IngestOutcome::kOverloaded, 0, "no room", retry_after};
  refused.no_room = true;
  return refused;
}

// One call made with the async stub, answered later.
struct AsyncCall {
  grpc::ClientContext context;
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status;
  Notification answered;
};

class GrpcReceiverTest : public ::testing::Test {
 protected:
  void Start(GrpcReceiverOptions options = {}) {
    options.listen_address = "127.0.0.1:0";
    auto receiver = StartGrpcReceiver(options, ingest_, registry_);
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);
    ASSERT_GT(receiver_->port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(receiver_->port()),
                                   grpc::InsecureChannelCredentials());
    traces_ = trace_v1::TraceService::NewStub(channel_);
  }

  void TearDown() override {
    if (receiver_) receiver_->Shutdown(absl::Now() + absl::Seconds(5));
  }

  static void SetDeadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  }

  grpc::Status ExportTraces(const trace_v1::ExportTraceServiceRequest& request,
                            trace_v1::ExportTraceServiceResponse* response,
                            grpc_compression_algorithm compression = GRPC_COMPRESS_NONE,
                            const std::string& authorization = "") {
    grpc::ClientContext context;
    SetDeadline(&context);
    context.set_compression_algorithm(compression);
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    return traces_->Export(&context, request, response);
  }

  void ExportTracesAsync(const trace_v1::ExportTraceServiceRequest& request, AsyncCall* call) {
    SetDeadline(&call->context);
    traces_->async()->Export(&call->context, &request, &call->response, [call](grpc::Status s) {
      call->status = std::move(s);
      call->answered.Notify();
    });
  }

  int64_t Rejected(const std::string& reason, const std::string& signal = "traces") {
    return registry_.CounterValue("gateway_requests_rejected_total",
                                  {{"transport", "grpc"}, {"signal", signal}, {"reason", reason}});
  }

  FakeIngest ingest_;
  MetricsRegistry registry_;
  std::unique_ptr<GrpcReceiver> receiver_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<trace_v1::TraceService::Stub> traces_;
};

TEST_F(GrpcReceiverTest, AcceptedRequestReachesIngestUndecodedAndReturnsEmptyResponse) {
  Start();
  trace_v1::ExportTraceServiceRequest request = MakeTraces(3);
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.has_partial_success());
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].signal, Signal::kTraces);
  EXPECT_EQ(calls[0].request, request.SerializeAsString());
  const MetricLabels labels = {{"transport", "grpc"}, {"signal", "traces"}};
  EXPECT_EQ(registry_.CounterValue("gateway_requests_received_total", labels), 1);
  EXPECT_EQ(registry_.CounterValue("gateway_bytes_received_total", labels),
            static_cast<int64_t>(request.ByteSizeLong()));
}

TEST_F(GrpcReceiverTest, PartialSuccessIsReported) {
  Start();
  IngestResult result;
  result.rejected_items = 2;
  result.message = "two spans had no trace id";
  ingest_.SetResult(result);
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(MakeTraces(3), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.has_partial_success());
  EXPECT_EQ(response.partial_success().rejected_spans(), 2);
  EXPECT_EQ(response.partial_success().error_message(), "two spans had no trace id");
}

TEST_F(GrpcReceiverTest, InvalidBecomesInvalidArgumentWithTheMessage) {
  Start();
  ingest_.SetResult({IngestOutcome::kInvalid, 0, "bad wire type at offset 7"});
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(MakeTraces(1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "bad wire type at offset 7");
  EXPECT_EQ(Rejected("invalid"), 1);
}

TEST_F(GrpcReceiverTest, OverloadBecomesUnavailable) {
  Start();
  ingest_.SetResult({IngestOutcome::kOverloaded, 0, "", absl::Seconds(3)});
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(MakeTraces(1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rejected("overloaded"), 1);
  // grpc-status-details-bin: a google.rpc.Status whose RetryInfo says when
  // to come back (OTLP exporters wait that long before retrying).
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(), "type.googleapis.com/google.rpc.RetryInfo");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(retry.ParseFromString(details.details(0).value()));
  EXPECT_EQ(retry.retry_delay().seconds(), 3);
}

// A call refused for lack of room is not answered until room comes: then it
// is accepted, whole, and the client never hears UNAVAILABLE.
TEST_F(GrpcReceiverTest, ACallRefusedForRoomWaitsForIt) {
  Start();
  Notification room;
  ingest_.SetHook([&room](Signal, const std::string&) {
    return room.HasBeenNotified() ? IngestResult{} : NoRoom(absl::Seconds(1));
  });
  const trace_v1::ExportTraceServiceRequest request = MakeTraces(4);
  AsyncCall call;
  ExportTracesAsync(request, &call);
  // Offered (and refused) at least twice: it is waiting, not answered.
  ASSERT_TRUE(ingest_.WaitForCalls(2, absl::Seconds(10)));
  EXPECT_FALSE(call.answered.HasBeenNotified());
  EXPECT_EQ(receiver_->WaitingForRoom(), 1);
  room.Notify();
  ASSERT_TRUE(call.answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(ingest_.Calls().back().request, request.SerializeAsString());
  EXPECT_EQ(Rejected("overloaded"), 0);
  EXPECT_EQ(
      registry_.CounterValue("gateway_admission_waits_total", {{"transport", "grpc"}, {"outcome", "admitted"}}), 1);
}

// Shutdown does not wait for room: a waiting call gets its last offer and
// its answer (here UNAVAILABLE), and the server stops.
TEST_F(GrpcReceiverTest, ShutdownAnswersCallsWaitingForRoom) {
  Start();
  ingest_.SetResult(NoRoom(absl::Seconds(2)));
  const trace_v1::ExportTraceServiceRequest request = MakeTraces(1);
  AsyncCall call;
  ExportTracesAsync(request, &call);
  ASSERT_TRUE(ingest_.WaitForCalls(1, absl::Seconds(10)));
  receiver_->Shutdown(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(call.answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rejected("overloaded"), 1);
}

TEST_F(GrpcReceiverTest, WithoutAdmissionWaitARefusalForRoomIsAnsweredAtOnce) {
  GrpcReceiverOptions options;
  options.admission_wait.max_wait = absl::ZeroDuration();
  Start(options);
  ingest_.SetResult(NoRoom(absl::Seconds(2)));
  trace_v1::ExportTraceServiceResponse response;
  EXPECT_EQ(ExportTraces(MakeTraces(1), &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ingest_.CallCount(), 1u);
}

TEST_F(GrpcReceiverTest, ShuttingDownBecomesUnavailable) {
  Start();
  ingest_.SetResult({IngestOutcome::kShuttingDown, 0, ""});
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(MakeTraces(1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Rejected("shutting_down"), 1);
}

TEST_F(GrpcReceiverTest, GzipCompressedRequestIsDecompressed) {
  Start();
  trace_v1::ExportTraceServiceRequest request = MakeTraces(50, 200);
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(request, &response, GRPC_COMPRESS_GZIP);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request, request.SerializeAsString());
}

TEST_F(GrpcReceiverTest, MessageOverTheLimitIsResourceExhausted) {
  GrpcReceiverOptions options;
  options.max_recv_message_bytes = 1024;
  Start(options);
  trace_v1::ExportTraceServiceResponse response;
  grpc::Status status = ExportTraces(MakeTraces(20, 200), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ingest_.CallCount(), 0u);
  // A small one on the same channel still works.
  status = ExportTraces(MakeTraces(1), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(GrpcReceiverTest, CompressedMessageOverTheLimitAfterDecompressionIsRejected) {
  GrpcReceiverOptions options;
  options.max_recv_message_bytes = 4096;
  Start(options);
  trace_v1::ExportTraceServiceResponse response;
  // ~40 KB that gzip squeezes far below 4 KB.
  grpc::Status status = ExportTraces(MakeTraces(100, 400), &response, GRPC_COMPRESS_GZIP);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(ingest_.CallCount(), 0u);
}

TEST_F(GrpcReceiverTest, BearerTokenIsRequiredWhenConfigured) {
  GrpcReceiverOptions options;
  options.bearer_token = "s3cret";
  Start(options);
  trace_v1::ExportTraceServiceResponse response;
  EXPECT_EQ(ExportTraces(MakeTraces(1), &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ExportTraces(MakeTraces(1), &response, GRPC_COMPRESS_NONE, "Bearer wrong").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ExportTraces(MakeTraces(1), &response, GRPC_COMPRESS_NONE, "Basic s3cret").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ExportTraces(MakeTraces(1), &response, GRPC_COMPRESS_NONE, "Bearer s3cret").ok());
  EXPECT_EQ(ingest_.CallCount(), 1u);
  EXPECT_EQ(Rejected("unauthenticated"), 3);
}

TEST_F(GrpcReceiverTest, MetricsAndLogsReachIngestWithTheirSignal) {
  Start();
  auto metrics = metrics_v1::MetricsService::NewStub(channel_);
  auto logs = logs_v1::LogsService::NewStub(channel_);
  metrics_v1::ExportMetricsServiceRequest metrics_request;
  metrics_request.add_resource_metrics()->add_scope_metrics()->add_metrics()->set_name("m");
  logs_v1::ExportLogsServiceRequest logs_request;
  logs_request.add_resource_logs()->add_scope_logs()->add_log_records()->set_severity_text("INFO");
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    metrics_v1::ExportMetricsServiceResponse response;
    ASSERT_TRUE(metrics->Export(&context, metrics_request, &response).ok());
  }
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    ingest_.SetResult({IngestOutcome::kAccepted, 4, "dropped"});
    logs_v1::ExportLogsServiceResponse response;
    ASSERT_TRUE(logs->Export(&context, logs_request, &response).ok());
    EXPECT_EQ(response.partial_success().rejected_log_records(), 4);
  }
  auto calls = ingest_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].signal, Signal::kMetrics);
  EXPECT_EQ(calls[0].request, metrics_request.SerializeAsString());
  EXPECT_EQ(calls[1].signal, Signal::kLogs);
  EXPECT_EQ(calls[1].request, logs_request.SerializeAsString());
}

TEST_F(GrpcReceiverTest, OtherClientsAreServedWhileOneIngestIsSlow) {
  Start();
  Notification slow_entered;
  Notification release;
  ingest_.SetHook([&](Signal, const std::string& request) {
    if (request.find("slow") != std::string::npos) {
      slow_entered.Notify();
      release.WaitForNotificationWithTimeout(absl::Seconds(20));
    }
    return IngestResult{};
  });
  trace_v1::ExportTraceServiceRequest slow_request = MakeTraces(1);
  slow_request.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_name("slow");
  grpc::Status slow_status;
  std::thread slow([&] {
    trace_v1::ExportTraceServiceResponse response;
    slow_status = ExportTraces(slow_request, &response);
  });
  ASSERT_TRUE(slow_entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (int i = 0; i < 5; ++i) {
    trace_v1::ExportTraceServiceResponse response;
    EXPECT_TRUE(ExportTraces(MakeTraces(1), &response).ok());
  }
  EXPECT_EQ(ingest_.CallCount(), 5u);
  release.Notify();
  slow.join();
  EXPECT_TRUE(slow_status.ok());
  EXPECT_EQ(ingest_.CallCount(), 6u);
}

TEST_F(GrpcReceiverTest, StartFailsOnAnAddressInUse) {
  Start();
  GrpcReceiverOptions options;
  options.listen_address = "127.0.0.1:" + std::to_string(receiver_->port());
  MetricsRegistry registry;
  auto second = StartGrpcReceiver(options, ingest_, registry);
  EXPECT_FALSE(second.ok());
}

TEST_F(GrpcReceiverTest, ShutdownIsIdempotent) {
  Start();
  receiver_->Shutdown(absl::Now() + absl::Seconds(1));
  receiver_->Shutdown(absl::Now() + absl::Seconds(1));
}

}  // namespace
}  // namespace gateway
