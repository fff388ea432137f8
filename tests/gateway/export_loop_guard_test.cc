#include "gateway/export_loop_guard.h"

#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(ExportLoopGuardTest, RefusesAnExportEndpointThatIsTheOwnReceiver) {
  for (const char* url : {"http://localhost:4318", "http://127.0.0.1:4318/v1/traces", "http://0.0.0.0:4318",
                          "http://[::1]:4318/", "https://LOCALHOST:4318"}) {
    absl::Status status = CheckExportTarget(url, "0.0.0.0:4318");
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << url;
    EXPECT_NE(status.message().find("OTEL_EXPORTER_OTLP_ENDPOINT"), absl::string_view::npos);
  }
  char name[256] = {0};
  ASSERT_EQ(::gethostname(name, sizeof(name) - 1), 0);
  EXPECT_FALSE(CheckExportTarget(std::string("http://") + name + ":4318", "127.0.0.1:4318").ok());
  // Port taken from the scheme when the URL has none.
  EXPECT_FALSE(CheckExportTarget("http://localhost", "127.0.0.1:80").ok());
}

TEST(ExportLoopGuardTest, AcceptsOtherHostsPortsAndUnboundReceivers) {
  EXPECT_TRUE(CheckExportTarget("https://abc123.live.dynatrace.com/api/v2/otlp", "0.0.0.0:4318").ok());
  EXPECT_TRUE(CheckExportTarget("http://localhost:4319", "0.0.0.0:4318").ok());
  EXPECT_TRUE(CheckExportTarget("http://collector:4318", "0.0.0.0:4318").ok());
  EXPECT_TRUE(CheckExportTarget("https://localhost", "127.0.0.1:4318").ok());
  EXPECT_TRUE(CheckExportTarget("http://localhost:4318", "127.0.0.1:0").ok());
  EXPECT_TRUE(CheckExportTarget("", "127.0.0.1:4318").ok());
}

TEST(ExportLoopGuardTest, InstanceIdsAreSixteenHexDigitsAndDiffer) {
  ExportLoopGuard a = NewExportLoopGuard();
  ExportLoopGuard b = NewExportLoopGuard();
  EXPECT_EQ(a.instance_id.size(), 16u);
  EXPECT_EQ(a.instance_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a.instance_id, b.instance_id);
}

}  // namespace
}  // namespace gateway
