#include "pipeline/export/debug_exporter.h"

#include <cstdint>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "pipeline/base/sync.h"

namespace gateway {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace colmetrics = opentelemetry::proto::collector::metrics::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;
using opentelemetry::proto::common::v1::AnyValue;
using opentelemetry::proto::common::v1::KeyValue;
using opentelemetry::proto::resource::v1::Resource;

constexpr char kOriginalTraceAttr[] = "gateway.reparent.original_trace_id";
constexpr char kFanoutAttr[] = "gateway.reparent.fanout_of_span_id";

std::string Hex(const std::string& bytes) { return bytes.empty() ? "-" : absl::BytesToHexString(bytes); }

std::string ValueText(const AnyValue& v) {
  switch (v.value_case()) {
    case AnyValue::kStringValue:
      return v.string_value();
    case AnyValue::kBytesValue:
      return absl::BytesToHexString(v.bytes_value());
    case AnyValue::kIntValue:
      return absl::StrCat(v.int_value());
    case AnyValue::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case AnyValue::kDoubleValue:
      return absl::StrCat(v.double_value());
    default:
      return "?";
  }
}

const AnyValue* FindAttribute(const google::protobuf::RepeatedPtrField<KeyValue>& attrs, std::string_view key) {
  for (const KeyValue& kv : attrs) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

std::string ServiceName(const Resource& resource) {
  const AnyValue* v = FindAttribute(resource.attributes(), "service.name");
  return v == nullptr ? "unknown" : ValueText(*v);
}

int64_t DataPoints(const opentelemetry::proto::metrics::v1::Metric& m) {
  switch (m.data_case()) {
    case opentelemetry::proto::metrics::v1::Metric::kGauge:
      return m.gauge().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kSum:
      return m.sum().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kHistogram:
      return m.histogram().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kExponentialHistogram:
      return m.exponential_histogram().data_points_size();
    case opentelemetry::proto::metrics::v1::Metric::kSummary:
      return m.summary().data_points_size();
    default:
      return 0;
  }
}

class DebugExporter final : public Exporter {
 public:
  explicit DebugExporter(std::ostream* stream, FILE* file) : stream_(stream), file_(file) {}

  void Export(ExportRequest request) override {
    ExportResult result;
    {
      MutexLock lock(&mu_);
      if (shut_down_) {
        result.outcome = ExportOutcome::kGivenUp;
      } else {
        std::string text = DescribeExportRequest(request.signal, request.body);
        if (text.empty()) {
          text = absl::StrCat(std::string(SignalName(request.signal)), " unparseable request of ",
                              request.body.size(), " bytes\n");
          result.outcome = ExportOutcome::kRejected;
        }
        Write(text);
      }
    }
    if (request.on_done) request.on_done(result);
  }

  int64_t QueuedBytes() const override { return 0; }
  bool Healthy() const override { return true; }

  absl::Status Shutdown(absl::Time) override {
    MutexLock lock(&mu_);
    shut_down_ = true;
    return absl::OkStatus();
  }

 private:
  void Write(const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stream_ != nullptr) {
      *stream_ << text;
      stream_->flush();
    } else {
      std::fwrite(text.data(), 1, text.size(), file_);
      std::fflush(file_);
    }
  }

  std::ostream* const stream_;
  FILE* const file_;
  Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

std::string DescribeExportRequest(Signal signal, std::string_view body) {
  std::string out;
  switch (signal) {
    case Signal::kTraces: {
      coltrace::ExportTraceServiceRequest request;
      if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) return "";
      for (const auto& rs : request.resource_spans()) {
        const std::string service = ServiceName(rs.resource());
        for (const auto& ss : rs.scope_spans()) {
          for (const auto& span : ss.spans()) {
            absl::StrAppend(&out, "span service=", service, " name=\"", absl::CEscape(span.name()),
                            "\" trace=", Hex(span.trace_id()), " span=", Hex(span.span_id()),
                            " parent=", Hex(span.parent_span_id()));
            if (const AnyValue* v = FindAttribute(span.attributes(), kOriginalTraceAttr)) {
              absl::StrAppend(&out, " reparented original_trace=", ValueText(*v));
            }
            if (const AnyValue* v = FindAttribute(span.attributes(), kFanoutAttr)) {
              absl::StrAppend(&out, " fanout_of=", ValueText(*v));
            }
            out += '\n';
          }
        }
      }
      if (out.empty()) out = "traces empty request\n";
      return out;
    }
    case Signal::kMetrics: {
      colmetrics::ExportMetricsServiceRequest request;
      if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) return "";
      std::set<std::string> services;
      int64_t metrics = 0;
      int64_t points = 0;
      for (const auto& rm : request.resource_metrics()) {
        services.insert(ServiceName(rm.resource()));
        for (const auto& sm : rm.scope_metrics()) {
          metrics += sm.metrics_size();
          for (const auto& m : sm.metrics()) points += DataPoints(m);
        }
      }
      return absl::StrCat("metrics services=", absl::StrJoin(services, ","), " metrics=", metrics,
                          " data_points=", points, "\n");
    }
    case Signal::kLogs: {
      collogs::ExportLogsServiceRequest request;
      if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) return "";
      std::set<std::string> services;
      int64_t records = 0;
      for (const auto& rl : request.resource_logs()) {
        services.insert(ServiceName(rl.resource()));
        for (const auto& sl : rl.scope_logs()) records += sl.log_records_size();
      }
      return absl::StrCat("logs services=", absl::StrJoin(services, ","), " log_records=", records, "\n");
    }
  }
  return "";
}

std::unique_ptr<Exporter> NewDebugExporter(std::ostream& out) {
  return std::make_unique<DebugExporter>(&out, nullptr);
}

std::unique_ptr<Exporter> NewDebugExporter(FILE* out) { return std::make_unique<DebugExporter>(nullptr, out); }

}  // namespace gateway
