#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include <iostream>
int main() { opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest r; std::cout << absl::StrCat("ok", r.ByteSizeLong()) << "\n"; }
