#include "gateway/config/config_env.h"

#include <string>

#include "gtest/gtest.h"

namespace gateway {
namespace {

class SubstituteEnvTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::string> Substitute(std::string_view text) { return SubstituteEnv(text, "a.key", env_); }

  EnvLookup env_ = MapEnv({{"HOST", "dt.example"}, {"EMPTY", ""}});
};

TEST_F(SubstituteEnvTest, ReplacesReferencesAndKeepsTheRest) {
  EXPECT_EQ(*Substitute("https://${env:HOST}/api/${env:HOST}"), "https://dt.example/api/dt.example");
  EXPECT_EQ(*Substitute("no references"), "no references");
  EXPECT_EQ(*Substitute("${env:EMPTY}"), "");
}

TEST_F(SubstituteEnvTest, DefaultsApplyWhenUnsetOrEmpty) {
  EXPECT_EQ(*Substitute("${env:MISSING:-fallback}"), "fallback");
  EXPECT_EQ(*Substitute("${env:EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(*Substitute("${env:HOST:-fallback}"), "dt.example");
  EXPECT_EQ(*Substitute("${env:MISSING:-}"), "");
}

TEST_F(SubstituteEnvTest, ErrorsNameTheKey) {
  absl::StatusOr<std::string> r = Substitute("${env:MISSING}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "a.key: environment variable MISSING is not set (write ${env:MISSING:-default} to give a default)");
  r = Substitute("${env:HOST");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "a.key: unterminated ${env:...} reference");
  r = Substitute("${env:}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "a.key: empty variable name in ${env:}");
}

TEST_F(SubstituteEnvTest, AnEmptyLookupHasNoVariables) {
  EXPECT_EQ(*SubstituteEnv("${env:HOST:-d}", "k", EnvLookup()), "d");
  EXPECT_FALSE(SubstituteEnv("${env:HOST}", "k", EnvLookup()).ok());
}

}  // namespace
}  // namespace gateway
