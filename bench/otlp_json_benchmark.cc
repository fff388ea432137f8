// The OTLP/JSON receive path: what the HTTP receiver does with an
// application/json body (OtlpJsonToProto, then the same validation as a
// protobuf body), against libprotobuf's own JSON parser on the same request
// in proto3's canonical JSON (which OTLP/JSON is not: its ids are hex, not
// base64), and against the protobuf receive path (validation only).
//
// The request is bench/request_generator.h's (500 spans of ~600 bytes) in
// both span shapes (argument `conventions`, as in reparent_benchmark).
//
// The process runs with the allocator settings of otlp_gateway's main
// (pipeline/base/allocator.h).
//
//   bazel run -c opt //bench:otlp_json_benchmark
#include <string>

#include "benchmark/benchmark.h"
#include "bench/loadgen_requests.h"
#include "bench/request_generator.h"
#include "pipeline/otlp/otlp_json.h"
#include "google/protobuf/util/json_util.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/allocator.h"
#include "pipeline/otlp/otlp_wire.h"

namespace gateway {
namespace {

using ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

// As otlp_gateway's main does, before the benchmarks run.
const bool kAllocatorTuned = TuneAllocatorForThroughput();

struct Bodies {
  std::string proto;
  std::string proto3_json;  // libprotobuf's rendering: base64 ids
  std::string otlp_json;    // the same with hex ids, as OTLP/JSON senders write
  int64_t spans = 0;
};

Bodies MakeBodies(TraceRequestShape::Attributes attributes) {
  Bodies b;
  TraceRequestShape shape;
  shape.attributes = attributes;
  b.proto = MakeTraceRequest(shape, 42);
  ExportTraceServiceRequest request;
  request.ParseFromString(b.proto);
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) b.spans += ss.spans_size();
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_enums_as_ints = true;
  google::protobuf::util::MessageToJsonString(request, &b.proto3_json, options);
  b.otlp_json = loadgen::HexIdsInProto3Json(b.proto3_json, nullptr);
  return b;
}

const Bodies& BodiesFor(const benchmark::State& state) {
  static const Bodies* const kPadded = new Bodies(MakeBodies(TraceRequestShape::Attributes::kOnePadding));
  static const Bodies* const kConventions =
      new Bodies(MakeBodies(TraceRequestShape::Attributes::kSemanticConventions));
  return state.range(0) == 0 ? *kPadded : *kConventions;
}

void Report(benchmark::State& state, const Bodies& b, size_t bytes) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * b.spans);
  state.counters["json_bytes_per_span"] = static_cast<double>(b.otlp_json.size()) / static_cast<double>(b.spans);
  state.counters["proto_bytes_per_span"] = static_cast<double>(b.proto.size()) / static_cast<double>(b.spans);
  state.counters["allocator_tuned"] = kAllocatorTuned ? 1 : 0;
}

// The gateway's JSON receive path: convert, then validate as any body.
void BM_OtlpJsonToProtoAndValidate(benchmark::State& state) {
  const Bodies& b = BodiesFor(state);
  for (auto _ : state) {
    absl::StatusOr<std::string> wire = OtlpJsonToProto(Signal::kTraces, b.otlp_json);
    if (!wire.ok() || !ValidateExportRequest(Signal::kTraces, *wire).ok()) {
      state.SkipWithError("conversion failed");
      return;
    }
    benchmark::DoNotOptimize(wire->data());
  }
  Report(state, b, b.otlp_json.size());
}
BENCHMARK(BM_OtlpJsonToProtoAndValidate)->ArgName("conventions")->Arg(0)->Arg(1);

// libprotobuf's JSON parser on proto3 JSON of the same request, then
// serialization to the wire form the pipeline needs.
void BM_LibprotobufJsonParseSerialize(benchmark::State& state) {
  const Bodies& b = BodiesFor(state);
  for (auto _ : state) {
    ExportTraceServiceRequest request;
    if (!google::protobuf::util::JsonStringToMessage(b.proto3_json, &request).ok()) {
      state.SkipWithError("parse failed");
      return;
    }
    std::string wire = request.SerializeAsString();
    benchmark::DoNotOptimize(wire.data());
  }
  Report(state, b, b.proto3_json.size());
}
BENCHMARK(BM_LibprotobufJsonParseSerialize)->ArgName("conventions")->Arg(0)->Arg(1);

// The protobuf receive path's share of the same work: validation only.
void BM_ProtobufValidate(benchmark::State& state) {
  const Bodies& b = BodiesFor(state);
  for (auto _ : state) {
    absl::Status status = ValidateExportRequest(Signal::kTraces, b.proto);
    if (!status.ok()) {
      state.SkipWithError("invalid");
      return;
    }
    benchmark::DoNotOptimize(status);
  }
  Report(state, b, b.proto.size());
}
BENCHMARK(BM_ProtobufValidate)->ArgName("conventions")->Arg(0)->Arg(1);

}  // namespace
}  // namespace gateway
