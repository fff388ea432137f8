#include "pipeline/export/retry_policy.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

constexpr long kNoStatus = 0;

class RetryPolicyTest : public ::testing::Test {
 protected:
  // An attempt that ended with HTTP `status` (and Retry-After `retry_after`).
  RetryDecision DecideStatus(long status, std::string_view retry_after = "", int attempts = 1) {
    return policy_.Decide({TransportError::kNone, status, retry_after}, Context(attempts));
  }
  RetryDecision DecideError(TransportError error, int attempts = 1) {
    return policy_.Decide({error, kNoStatus, ""}, Context(attempts));
  }
  AttemptContext Context(int attempts) const {
    AttemptContext context;
    context.attempts = attempts;
    context.now = now_;
    context.age_base = now_;
    return context;
  }

  const absl::Time now_ = absl::FromUnixSeconds(1700000000);
  RetryPolicyOptions options_;
  RetryPolicy policy_{options_};
};

TEST_F(RetryPolicyTest, DeliversOn2xx) {
  for (long status : {200L, 202L, 204L, 299L}) {
    const RetryDecision d = DecideStatus(status);
    EXPECT_EQ(d.action, RetryAction::kDeliver) << status;
    EXPECT_TRUE(d.failure.empty()) << status;
    EXPECT_FALSE(d.retryable) << status;
  }
}

TEST_F(RetryPolicyTest, RetriesTransientStatusesNamingTheReason) {
  const std::pair<long, std::string_view> cases[] = {
      {408, "http_408"}, {429, "http_429"}, {502, "http_5xx"}, {503, "http_5xx"}, {504, "http_5xx"}};
  for (const auto& [status, reason] : cases) {
    const RetryDecision d = DecideStatus(status);
    EXPECT_EQ(d.action, RetryAction::kRetry) << status;
    EXPECT_EQ(d.failure, reason) << status;
    EXPECT_TRUE(d.retryable) << status;
    EXPECT_TRUE(d.final_reason.empty()) << status;
  }
}

TEST_F(RetryPolicyTest, RetriesNetworkErrorsAndTimeouts) {
  RetryDecision d = DecideError(TransportError::kNetwork);
  EXPECT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.failure, "network");
  d = DecideError(TransportError::kTimeout);
  EXPECT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.failure, "timeout");
}

TEST_F(RetryPolicyTest, RejectsOtherStatusesWithoutRetry) {
  const std::pair<long, std::string_view> cases[] = {{400, "http_400"}, {404, "http_4xx"}, {409, "http_4xx"},
                                                     {500, "http_5xx"}, {501, "http_5xx"}, {302, "http_other"},
                                                     {100, "http_other"}};
  for (const auto& [status, reason] : cases) {
    const RetryDecision d = DecideStatus(status, "5");
    EXPECT_EQ(d.action, RetryAction::kReject) << status;
    EXPECT_EQ(d.failure, reason) << status;
    EXPECT_EQ(d.final_reason, reason) << status;
    EXPECT_FALSE(d.retryable) << status;
  }
}

// A token being rotated, or revoked by mistake: the data is kept and retried
// under the same age bound as any retry.
TEST_F(RetryPolicyTest, RetriesAuthFailuresWithBackoffUnderTheAgeBound) {
  for (long status : {401L, 403L}) {
    RetryDecision d = DecideStatus(status);
    EXPECT_EQ(d.action, RetryAction::kRetry) << status;
    EXPECT_TRUE(d.retryable) << status;
    EXPECT_EQ(d.failure, status == 401 ? "http_401" : "http_403");
    EXPECT_GT(d.retry_at, Context(1).now);
  }
  AttemptContext old = Context(1);
  old.age_base = old.now - options_.max_item_age;
  RetryPolicy policy(options_);
  RetryDecision d = policy.Decide({TransportError::kNone, 401, ""}, old);
  EXPECT_EQ(d.action, RetryAction::kGiveUp);
  EXPECT_EQ(d.final_reason, "max_age");
}

TEST_F(RetryPolicyTest, SplitsA400ToIsolateTheRefusedItemsWhileAllowed) {
  RetryPolicy policy(options_);
  AttemptContext context = Context(1);
  context.may_isolate = true;
  RetryDecision d = policy.Decide({TransportError::kNone, 400, ""}, context);
  EXPECT_EQ(d.action, RetryAction::kSplit);
  EXPECT_EQ(d.final_reason, "http_400");
  context.may_isolate = false;
  d = policy.Decide({TransportError::kNone, 400, ""}, context);
  EXPECT_EQ(d.action, RetryAction::kReject);
  EXPECT_EQ(d.final_reason, "http_400");
  EXPECT_FALSE(d.retryable);
}

TEST_F(RetryPolicyTest, SplitsOn413AndRejectsAsHttp413WhenItCannot) {
  const RetryDecision d = DecideStatus(413);
  EXPECT_EQ(d.action, RetryAction::kSplit);
  EXPECT_EQ(d.failure, "http_413");
  EXPECT_EQ(d.final_reason, "http_413");
  EXPECT_FALSE(d.retryable);
}

TEST_F(RetryPolicyTest, HonoursRetryAfterSecondsOverAShorterBackoff) {
  const RetryDecision d = DecideStatus(429, "7");
  ASSERT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at, now_ + absl::Seconds(7));
}

TEST_F(RetryPolicyTest, HonoursRetryAfterHttpDate) {
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now_ + absl::Seconds(20), absl::UTCTimeZone());
  const RetryDecision d = DecideStatus(503, date);
  ASSERT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at, now_ + absl::Seconds(20));
}

TEST_F(RetryPolicyTest, BacksOffExponentiallyWithinTheJitter) {
  // initial 1 s, multiplier 2, jitter 0.5: attempt n waits 2^(n-1) s * [0.5, 1.5].
  for (int attempts = 1; attempts <= 4; ++attempts) {
    const RetryDecision d = DecideStatus(503, "", attempts);
    ASSERT_EQ(d.action, RetryAction::kRetry) << attempts;
    const absl::Duration base = absl::Seconds(1 << (attempts - 1));
    EXPECT_GE(d.retry_at - now_, base * 0.5) << attempts;
    EXPECT_LE(d.retry_at - now_, base * 1.5) << attempts;
  }
}

TEST_F(RetryPolicyTest, CapsTheBackoffAtMaxBackoffBeforeJitter) {
  for (int attempts : {6, 7, 20, 1000}) {
    const RetryDecision d = DecideError(TransportError::kNetwork, attempts);
    ASSERT_EQ(d.action, RetryAction::kRetry) << attempts;
    EXPECT_GE(d.retry_at - now_, absl::Seconds(15)) << attempts;
    EXPECT_LE(d.retry_at - now_, absl::Seconds(45)) << attempts;
  }
}

TEST_F(RetryPolicyTest, WithoutJitterTheBackoffIsExact) {
  options_.jitter = 0;
  RetryPolicy policy(options_);
  const int64_t expected_seconds[] = {1, 2, 4, 8, 16, 30, 30};
  for (int attempts = 1; attempts <= 7; ++attempts) {
    const RetryDecision d = policy.Decide({TransportError::kNone, 503, ""}, Context(attempts));
    ASSERT_EQ(d.action, RetryAction::kRetry) << attempts;
    EXPECT_EQ(d.retry_at - now_, absl::Seconds(expected_seconds[attempts - 1])) << attempts;
  }
}

TEST_F(RetryPolicyTest, ABackoffLongerThanRetryAfterWins) {
  options_.jitter = 0;
  RetryPolicy policy(options_);
  const RetryDecision d = policy.Decide({TransportError::kNone, 429, "1"}, Context(4));
  ASSERT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at - now_, absl::Seconds(8));
}

TEST_F(RetryPolicyTest, ClampsRetryAfterToMaxRetryAfter) {
  const RetryDecision d = DecideStatus(503, "3600");
  ASSERT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at, now_ + absl::Minutes(5));
}

TEST_F(RetryPolicyTest, IgnoresRetryAfterAfterANetworkError) {
  options_.jitter = 0;
  RetryPolicy policy(options_);
  const RetryDecision d = policy.Decide({TransportError::kNetwork, kNoStatus, "60"}, Context(1));
  ASSERT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at - now_, absl::Seconds(1));
}

TEST_F(RetryPolicyTest, GivesUpWhenTheOldestItemWouldBeTooOldAtTheRetry) {
  AttemptContext context = Context(1);
  context.age_base = now_ - absl::Minutes(55) + absl::Milliseconds(100);
  const RetryDecision d = policy_.Decide({TransportError::kNone, 503, ""}, context);
  EXPECT_EQ(d.action, RetryAction::kGiveUp);
  EXPECT_EQ(d.final_reason, "max_age");
  EXPECT_EQ(d.failure, "http_5xx");
  EXPECT_TRUE(d.retryable);
}

TEST_F(RetryPolicyTest, RetriesWhileTheOldestItemStaysYoungEnough) {
  AttemptContext context = Context(1);
  context.age_base = now_ - absl::Minutes(50);
  const RetryDecision d = policy_.Decide({TransportError::kNone, 429, "60"}, context);
  EXPECT_EQ(d.action, RetryAction::kRetry);
}

TEST_F(RetryPolicyTest, GivesUpARetryThatWouldNotComeBeforeTheShutdownDeadline) {
  AttemptContext context = Context(1);
  context.shutdown_deadline = now_ + absl::Seconds(5);
  RetryDecision d = policy_.Decide({TransportError::kNone, 503, "5"}, context);
  EXPECT_EQ(d.action, RetryAction::kGiveUp);
  EXPECT_EQ(d.final_reason, "shutdown");

  context.shutdown_deadline = now_ + absl::Seconds(6);
  d = policy_.Decide({TransportError::kNone, 503, "5"}, context);
  EXPECT_EQ(d.action, RetryAction::kRetry);
  EXPECT_EQ(d.retry_at, now_ + absl::Seconds(5));
}

TEST_F(RetryPolicyTest, MaxAgeIsCheckedBeforeTheShutdownDeadline) {
  AttemptContext context = Context(1);
  context.age_base = now_ - absl::Hours(1);
  context.shutdown_deadline = now_;
  const RetryDecision d = policy_.Decide({TransportError::kNetwork, kNoStatus, ""}, context);
  EXPECT_EQ(d.action, RetryAction::kGiveUp);
  EXPECT_EQ(d.final_reason, "max_age");
}

TEST_F(RetryPolicyTest, TheSeedFixesTheJitterAndOnlyRetriesDrawIt) {
  RetryPolicy a(options_);
  RetryPolicy b(options_);
  // Deliveries, rejections and splits draw no jitter sample.
  EXPECT_EQ(a.Decide({TransportError::kNone, 200, ""}, Context(1)).action, RetryAction::kDeliver);
  EXPECT_EQ(a.Decide({TransportError::kNone, 400, ""}, Context(1)).action, RetryAction::kReject);
  EXPECT_EQ(a.Decide({TransportError::kNone, 413, ""}, Context(1)).action, RetryAction::kSplit);
  for (int attempts = 1; attempts <= 5; ++attempts) {
    EXPECT_EQ(a.Decide({TransportError::kNone, 503, ""}, Context(attempts)).retry_at,
              b.Decide({TransportError::kNone, 503, ""}, Context(attempts)).retry_at)
        << attempts;
  }
  options_.random_seed = 7;
  RetryPolicy c(options_);
  RetryPolicy d(RetryPolicyOptions{});
  EXPECT_NE(c.Decide({TransportError::kNone, 503, ""}, Context(3)).retry_at,
            d.Decide({TransportError::kNone, 503, ""}, Context(3)).retry_at);
}

TEST(RetryAfterDelayTest, ReadsSecondsAndHttpDates) {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  const absl::Duration max = absl::Minutes(5);
  EXPECT_EQ(RetryAfterDelay("", now, max), absl::ZeroDuration());
  EXPECT_EQ(RetryAfterDelay("7", now, max), absl::Seconds(7));
  EXPECT_EQ(RetryAfterDelay("0", now, max), absl::ZeroDuration());
  EXPECT_EQ(RetryAfterDelay("-5", now, max), absl::ZeroDuration());
  EXPECT_EQ(RetryAfterDelay("301", now, max), max);
  EXPECT_EQ(RetryAfterDelay("soon", now, max), absl::ZeroDuration());
  const std::string later = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now + absl::Seconds(42), absl::UTCTimeZone());
  EXPECT_EQ(RetryAfterDelay(later, now, max), absl::Seconds(42));
  const std::string earlier = absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now - absl::Seconds(42), absl::UTCTimeZone());
  EXPECT_EQ(RetryAfterDelay(earlier, now, max), absl::ZeroDuration());
}

TEST(FailureReasonTest, NamesStatusClasses) {
  EXPECT_EQ(FailureReason(408), "http_408");
  EXPECT_EQ(FailureReason(429), "http_429");
  EXPECT_EQ(FailureReason(413), "http_413");
  EXPECT_EQ(FailureReason(400), "http_400");
  EXPECT_EQ(FailureReason(401), "http_401");
  EXPECT_EQ(FailureReason(403), "http_403");
  EXPECT_EQ(FailureReason(404), "http_4xx");
  EXPECT_EQ(FailureReason(503), "http_5xx");
  EXPECT_EQ(FailureReason(600), "http_other");
  EXPECT_EQ(FailureReason(0), "http_other");
  for (long status : {401L, 403L, 408L, 429L, 502L, 503L, 504L}) EXPECT_TRUE(IsRetryableStatus(status)) << status;
  for (long status : {200L, 400L, 404L, 413L, 500L, 501L, 505L}) EXPECT_FALSE(IsRetryableStatus(status)) << status;
  EXPECT_TRUE(IsAuthFailure(401));
  EXPECT_TRUE(IsAuthFailure(403));
  EXPECT_FALSE(IsAuthFailure(400));
}

}  // namespace
}  // namespace gateway
