#include "pipeline/base/host_port.h"

#include "gtest/gtest.h"

namespace gateway {
namespace {

TEST(ParseHostPortTest, AcceptsNamesLiteralsAndAnEmptyHost) {
  struct Case {
    const char* text;
    const char* host;
    int port;
  };
  for (const Case& c : {Case{"0.0.0.0:4317", "0.0.0.0", 4317}, Case{"localhost:0", "localhost", 0},
                        Case{"[::1]:6379", "::1", 6379}, Case{"[::]:4318", "::", 4318}, Case{":65535", "", 65535},
                        Case{"redis.internal:6380", "redis.internal", 6380}}) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(parsed->host, c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
  }
}

TEST(ParseHostPortTest, SaysWhatIsWrong) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"localhost", "no port"}, Case{"", "no port"}, Case{"host:", "port must be 0-65535"},
                        Case{"host:65536", "port must be 0-65535"}, Case{"host:-1", "port must be 0-65535"},
                        Case{"host:http", "port must be 0-65535"}, Case{"::1:4317", "write IPv6 addresses in brackets"},
                        Case{"[::1:4317", "unbalanced [ ] around an IPv6 address"}}) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), c.message) << c.text;
  }
}

TEST(SplitAuthorityTest, TakesAnOptionalPort) {
  HostPort a = SplitAuthority("Example.com:4318");
  EXPECT_EQ(a.host, "Example.com");
  EXPECT_EQ(a.port, 4318);
  HostPort b = SplitAuthority("example.com");
  EXPECT_EQ(b.host, "example.com");
  EXPECT_EQ(b.port, -1);
  HostPort c = SplitAuthority("[::1]:8080");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 8080);
  HostPort d = SplitAuthority("[::1]");
  EXPECT_EQ(d.host, "::1");
  EXPECT_EQ(d.port, -1);
  EXPECT_EQ(SplitAuthority("host:abc").port, -1);
}

}  // namespace
}  // namespace gateway
