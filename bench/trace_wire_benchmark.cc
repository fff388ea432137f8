// The wire layer against libprotobuf on the same realistic request: 500 spans
// of ~600 bytes, 10% CONSUMER spans with a link, 5 resources. Also the
// receivers' full check of a request (ValidateExportRequest) on both span
// shapes of TraceRequestShape::Attributes.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "bench/request_generator.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/otlp/otlp_wire.h"
#include "pipeline/otlp/output_span.h"
#include "pipeline/otlp/trace_encoder.h"
#include "pipeline/otlp/trace_rewriter.h"
#include "pipeline/otlp/trace_scanner.h"

namespace gateway {
namespace {

const std::string& Body() {
  static const std::string* const kBody = new std::string(MakeTraceRequest(TraceRequestShape{}, 42));
  return *kBody;
}

void Report(benchmark::State& state, int64_t spans) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(Body().size()));
  state.SetItemsProcessed(state.iterations() * spans);
}

// Scan, patch the trace id of every fifth span, re-encode all spans. The
// request copy that ScanTraceRequest takes ownership of is included. The
// scans skip the per-span UTF-8 search, as the pipeline does once
// ValidateExportRequest found every string valid.
void BM_ScanAndEncode(benchmark::State& state) {
  const std::string& body = Body();
  int64_t spans = 0;
  TraceId patched;
  patched.bytes.fill(0x5a);
  std::vector<OutputSpan> outputs;
  for (auto _ : state) {
    absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(body, Utf8Check::kSkip);
    if (!scanned.ok()) {
      state.SkipWithError("scan failed");
      return;
    }
    outputs.clear();
    outputs.reserve(scanned->spans.size());
    for (size_t i = 0; i < scanned->spans.size(); ++i) {
      const SpanRef& span = scanned->spans[i];
      OutputSpan& out = outputs.emplace_back(OutputSpan::Unchanged(span, scanned->buffer));
      if (i % 5 == 0) out.rewritten = PatchTraceId(span, patched);
    }
    std::string encoded = EncodeTraceRequest(outputs);
    benchmark::DoNotOptimize(encoded.data());
    spans = static_cast<int64_t>(scanned->spans.size());
  }
  Report(state, spans);
}
BENCHMARK(BM_ScanAndEncode);

// What the pipeline runs on every trace request before the scan: the full
// check of the request, attributes included, with the UTF-8 check of every
// string (ValidationNotes). Arg 0: padded spans (3-5 attributes, one long);
// 1: SDK-like spans (10-12 short attributes).
void BM_ValidateExportRequest(benchmark::State& state) {
  static const std::string* const kPadded = new std::string(MakeTraceRequest(TraceRequestShape{}, 42));
  static const std::string* const kConventions = [] {
    TraceRequestShape shape;
    shape.attributes = TraceRequestShape::Attributes::kSemanticConventions;
    return new std::string(MakeTraceRequest(shape, 42));
  }();
  const std::string& body = state.range(0) == 0 ? *kPadded : *kConventions;
  for (auto _ : state) {
    ValidationNotes notes;
    absl::Status status = ValidateExportRequest(Signal::kTraces, body, &notes);
    if (!status.ok() || notes.invalid_utf8) {
      state.SkipWithError("invalid");
      return;
    }
    benchmark::DoNotOptimize(status);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * 500);
}
BENCHMARK(BM_ValidateExportRequest)->ArgName("conventions")->Arg(0)->Arg(1);

void BM_ScanOnly(benchmark::State& state) {
  const std::string& body = Body();
  int64_t spans = 0;
  for (auto _ : state) {
    absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(body, Utf8Check::kSkip);
    benchmark::DoNotOptimize(scanned->spans.data());
    spans = static_cast<int64_t>(scanned->spans.size());
  }
  Report(state, spans);
}
BENCHMARK(BM_ScanOnly);

// The scan of a request in which ValidateExportRequest found invalid UTF-8:
// every span, resource and scope searched for it (here none is found, the
// most work).
void BM_ScanWithPerSpanUtf8Search(benchmark::State& state) {
  const std::string& body = Body();
  int64_t spans = 0;
  for (auto _ : state) {
    absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(body, Utf8Check::kPerSpan);
    benchmark::DoNotOptimize(scanned->spans.data());
    spans = static_cast<int64_t>(scanned->spans.size());
  }
  Report(state, spans);
}
BENCHMARK(BM_ScanWithPerSpanUtf8Search);

void BM_EncodeOnly(benchmark::State& state) {
  absl::StatusOr<ScannedTraceRequest> scanned = ScanTraceRequest(Body(), Utf8Check::kSkip);
  std::vector<OutputSpan> outputs;
  for (const SpanRef& span : scanned->spans) outputs.push_back(OutputSpan::Unchanged(span, scanned->buffer));
  for (auto _ : state) {
    std::string encoded = EncodeTraceRequest(outputs);
    benchmark::DoNotOptimize(encoded.data());
  }
  Report(state, static_cast<int64_t>(outputs.size()));
}
BENCHMARK(BM_EncodeOnly);

void BM_LibprotobufParseSerialize(benchmark::State& state) {
  const std::string& body = Body();
  int64_t spans = 0;
  for (auto _ : state) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest request;
    if (!request.ParseFromString(body)) {
      state.SkipWithError("parse failed");
      return;
    }
    std::string out;
    request.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
    spans = 0;
    for (const auto& rs : request.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) spans += ss.spans_size();
    }
  }
  Report(state, spans);
}
BENCHMARK(BM_LibprotobufParseSerialize);

}  // namespace
}  // namespace gateway
