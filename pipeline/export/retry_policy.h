// What the OTLP/HTTP exporter does after one export attempt: deliver, retry
// at a given time, split the body, reject it, or give up. Decisions depend
// only on their inputs (no clock, no I/O); the backoff jitter comes from a
// generator seeded by the options, so a seed fixes the sequence.
//
//   RetryPolicy policy(options);
//   RetryDecision d = policy.Decide({.error = TransportError::kNone, .status = 503, .retry_after = "7"},
//                                   {.attempts = 1, .now = now, .age_base = oldest_item_time});
//   if (d.action == RetryAction::kRetry) ScheduleAt(d.retry_at);
//
// The rules:
//   2xx                                   kDeliver
//   network error or timeout              kRetry after the backoff
//   408, 429, 502, 503, 504               kRetry after max(Retry-After, backoff)
//   401, 403                              kRetry after the backoff: the token may
//                                         be being rotated; the data is kept
//   413                                   kSplit (in halves; kReject "http_413"
//                                         when the body cannot be split)
//   400                                   kSplit while may_isolate (halves until
//                                         the refused items are alone), else
//                                         kReject "http_400"
//   any other status                      kReject
// A retry becomes kGiveUp "max_age" when the oldest item would be older than
// max_item_age at the next attempt, and kGiveUp "shutdown" when the next
// attempt would not come before the shutdown deadline.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

#include "absl/time/time.h"
#include "pipeline/export/http_transport.h"

namespace gateway {

struct RetryPolicyOptions {
  // Backoff before retry n (n = 1, 2, ...): initial * multiplier^(n-1),
  // capped at max, then multiplied by a random factor in
  // [1 - jitter, 1 + jitter].
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  double backoff_multiplier = 2.0;
  double jitter = 0.5;
  // A Retry-After longer than this is clamped to it.
  absl::Duration max_retry_after = absl::Minutes(5);
  // No retry is scheduled past age_base + max_item_age.
  absl::Duration max_item_age = absl::Minutes(55);
  // Seed of the jitter.
  uint64_t random_seed = 0x9e3779b97f4a7c15ULL;
};

// How one attempt ended.
struct AttemptOutcome {
  TransportError error = TransportError::kNone;
  // The HTTP status, when error is kNone.
  long status = 0;
  // The Retry-After header value as received (delta-seconds or an HTTP-date),
  // empty when absent.
  std::string_view retry_after;
};

// Where the request stands.
struct AttemptContext {
  // Attempts made so far, including the one that just ended (>= 1).
  int attempts = 1;
  absl::Time now;
  // The time the request's age counts from (its oldest item's time).
  absl::Time age_base;
  // Once the exporter is shutting down: no retry at or after this time.
  absl::Time shutdown_deadline = absl::InfiniteFuture();
  // A 400 may still split the request to isolate the refused items (more
  // than one item in it, and the batch's isolation budget not spent).
  bool may_isolate = false;
};

enum class RetryAction : uint8_t { kDeliver, kRetry, kSplit, kReject, kGiveUp };

struct RetryDecision {
  RetryAction action = RetryAction::kDeliver;
  // Why the attempt failed, as counted in gateway_export_failures_total:
  // "network", "timeout", "http_400", "http_401", "http_403", "http_408",
  // "http_429", "http_413", "http_4xx", "http_5xx" or "http_other". Empty
  // for kDeliver.
  std::string_view failure;
  // kReject (and kSplit, should the body not split): the reason counted in
  // gateway_export_rejected_items_total ("http_400", "http_413", "http_4xx",
  // "http_5xx", "http_other"). kGiveUp: "max_age" or "shutdown". Otherwise empty.
  std::string_view final_reason;
  // The attempt failed in a way worth retrying (kRetry, or kGiveUp because
  // the retry would come too late).
  bool retryable = false;
  // kRetry: when to send again.
  absl::Time retry_at = absl::InfiniteFuture();
};

// Not thread-safe: one exporter thread calls Decide.
class RetryPolicy {
 public:
  explicit RetryPolicy(const RetryPolicyOptions& options);

  // The decision for an attempt that ended with `outcome`. Draws one jitter
  // sample for each retryable failure, none otherwise.
  RetryDecision Decide(const AttemptOutcome& outcome, const AttemptContext& context);

  const RetryPolicyOptions& options() const { return options_; }

 private:
  absl::Duration Backoff(int attempts);

  RetryPolicyOptions options_;
  std::mt19937_64 rng_;
};

// The statuses retried: 401, 403, 408, 429, 502, 503, 504.
bool IsRetryableStatus(long status);

// 401 and 403: the target refuses the credentials.
bool IsAuthFailure(long status);

// The failure reason of an HTTP status ("http_400", "http_401", "http_403",
// "http_408", "http_429", "http_413", "http_4xx", "http_5xx", "http_other").
std::string_view FailureReason(long status);

// The wait a Retry-After value asks for at `now`: delta-seconds, or an
// HTTP-date (the forms libcurl's curl_getdate reads) minus `now`; zero when
// empty, unparsable or in the past; at most `max`.
absl::Duration RetryAfterDelay(std::string_view value, absl::Time now, absl::Duration max);

}  // namespace gateway
