#include "pipeline/export/retry_policy.h"

#include <curl/curl.h>

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "pipeline/base/absl_compat.h"

namespace gateway {

bool IsRetryableStatus(long status) {
  return status == 408 || status == 429 || status == 502 || status == 503 || status == 504 ||
         IsAuthFailure(status);
}

bool IsAuthFailure(long status) { return status == 401 || status == 403; }

std::string_view FailureReason(long status) {
  if (status == 400) return "http_400";
  if (status == 401) return "http_401";
  if (status == 403) return "http_403";
  if (status == 408) return "http_408";
  if (status == 429) return "http_429";
  if (status == 413) return "http_413";
  if (status >= 400 && status < 500) return "http_4xx";
  if (status >= 500 && status < 600) return "http_5xx";
  return "http_other";
}

absl::Duration RetryAfterDelay(std::string_view value, absl::Time now, absl::Duration max) {
  if (value.empty()) return absl::ZeroDuration();
  int64_t seconds = 0;
  absl::Duration d = absl::ZeroDuration();
  if (absl::SimpleAtoi(ToAbsl(value), &seconds)) {
    d = absl::Seconds(std::max<int64_t>(0, seconds));
  } else {
    const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
    if (when < 0) return absl::ZeroDuration();
    d = std::max(absl::ZeroDuration(), absl::FromTimeT(when) - now);
  }
  return std::min(d, max);
}

RetryPolicy::RetryPolicy(const RetryPolicyOptions& options) : options_(options), rng_(options.random_seed) {}

RetryDecision RetryPolicy::Decide(const AttemptOutcome& outcome, const AttemptContext& context) {
  RetryDecision decision;
  absl::Duration retry_after = absl::ZeroDuration();
  if (outcome.error != TransportError::kNone) {
    decision.failure = outcome.error == TransportError::kTimeout ? "timeout" : "network";
  } else if (outcome.status >= 200 && outcome.status < 300) {
    decision.action = RetryAction::kDeliver;
    return decision;
  } else {
    decision.failure = FailureReason(outcome.status);
    if (!IsRetryableStatus(outcome.status)) {
      // 413: too large, in halves. 400: some item is refused; halves isolate
      // it so that the rest of the batch is delivered.
      const bool split = outcome.status == 413 || (outcome.status == 400 && context.may_isolate);
      decision.action = split ? RetryAction::kSplit : RetryAction::kReject;
      decision.final_reason = decision.failure;
      return decision;
    }
    retry_after = RetryAfterDelay(outcome.retry_after, context.now, options_.max_retry_after);
  }
  decision.retryable = true;
  const absl::Time next = context.now + std::max(retry_after, Backoff(context.attempts));
  if (next - context.age_base > options_.max_item_age) {
    decision.action = RetryAction::kGiveUp;
    decision.final_reason = "max_age";
  } else if (next >= context.shutdown_deadline) {
    decision.action = RetryAction::kGiveUp;
    decision.final_reason = "shutdown";
  } else {
    decision.action = RetryAction::kRetry;
    decision.retry_at = next;
  }
  return decision;
}

absl::Duration RetryPolicy::Backoff(int attempts) {
  absl::Duration d = options_.initial_backoff;
  for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d = d * options_.backoff_multiplier;
  d = std::min(d, options_.max_backoff);
  std::uniform_real_distribution<double> dist(1.0 - options_.jitter, 1.0 + options_.jitter);
  return d * dist(rng_);
}

}  // namespace gateway
