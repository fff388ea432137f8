#include "pipeline/export/secret_redactor.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace gateway {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(SecretRedactorTest, RemovesWholeHeaderValuesAndTheTokenAfterTheScheme) {
  SecretRedactor redactor(Headers{{"Authorization", "Api-Token dt0c01.SECRETTOKENVALUE"}});
  EXPECT_EQ(redactor.Redact("bad header Authorization: Api-Token dt0c01.SECRETTOKENVALUE"),
            "bad header Authorization: <redacted>");
  EXPECT_EQ(redactor.Redact("token dt0c01.SECRETTOKENVALUE is invalid"), "token <redacted> is invalid");
  EXPECT_EQ(redactor.Redact("nothing secret here"), "nothing secret here");
}

TEST(SecretRedactorTest, LeavesShortValuesAndShortTokensAlone) {
  SecretRedactor redactor(Headers{{"X-Short", "abc"}, {"X-Scheme", "Key 1234567"}, {"X-Tenant", "tenant-7"}});
  // "abc" is under 4 bytes; "1234567" is under 8 bytes; whole values of 4 bytes or more go.
  EXPECT_EQ(redactor.Redact("abc 1234567 Key 1234567 tenant-7"), "abc 1234567 <redacted> <redacted>");
}

TEST(SecretRedactorTest, NoHeadersRedactNothing) {
  SecretRedactor redactor(Headers{});
  EXPECT_EQ(redactor.Redact("Api-Token dt0c01.X"), "Api-Token dt0c01.X");
}

}  // namespace
}  // namespace gateway
