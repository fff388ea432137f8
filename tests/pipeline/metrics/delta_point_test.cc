#include "pipeline/metrics/delta_point.h"

#include <cmath>
#include <limits>
#include <utility>

#include "gtest/gtest.h"

namespace gateway::metrics {
namespace {

constexpr uint64_t kGatewayStart = 1'000'000;

class DeltaPointTest : public ::testing::Test {
 protected:
  // Feeds `in` to the series and, as SeriesTable does, remembers it.
  DeltaOutcome Feed(CumulativePoint in, DeltaPoint* out) {
    const DeltaOutcome o = ToDelta(seen_ ? &state_ : nullptr, in, rules_, out);
    if (UpdatesState(o)) {
      state_ = {in.time_unix_nano, std::move(in.value)};
      seen_ = true;
    }
    return o;
  }

  DeltaRules rules_{InitialValue::kAuto, kGatewayStart};
  SeriesState state_;
  bool seen_ = false;
};

HistogramValue Hist(uint64_t count, double sum, std::vector<uint64_t> buckets, uint64_t bounds = 7) {
  return HistogramValue{count, sum, bounds, std::move(buckets)};
}

TEST_F(DeltaPointTest, FirstPointOfASeriesOlderThanTheGatewayIsDroppedThenDeltasFollow) {
  DeltaPoint out;
  EXPECT_EQ(Feed({500, 2'000'000, int64_t{10}}, &out), DeltaOutcome::kInitial);
  ASSERT_EQ(Feed({500, 3'000'000, int64_t{15}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(out.start_time_unix_nano, 2'000'000u);
  EXPECT_EQ(std::get<int64_t>(out.value), 5);
  ASSERT_EQ(Feed({500, 4'000'000, int64_t{15}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(out.start_time_unix_nano, 3'000'000u);
  EXPECT_EQ(std::get<int64_t>(out.value), 0);
}

TEST_F(DeltaPointTest, FirstPointOfASeriesStartedAfterTheGatewayIsEmittedWhole) {
  DeltaPoint out;
  ASSERT_EQ(Feed({kGatewayStart + 1, kGatewayStart + 100, 2.5}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(out.start_time_unix_nano, kGatewayStart + 1);
  EXPECT_EQ(std::get<double>(out.value), 2.5);
}

TEST_F(DeltaPointTest, FirstPointWhoseTimeEqualsItsStartIsDropped) {
  DeltaPoint out;
  EXPECT_EQ(Feed({kGatewayStart + 5, kGatewayStart + 5, int64_t{0}}, &out), DeltaOutcome::kInitial);
}

TEST_F(DeltaPointTest, FirstPointWithoutStartTimeIsDropped) {
  DeltaPoint out;
  EXPECT_EQ(Feed({0, kGatewayStart + 5, int64_t{3}}, &out), DeltaOutcome::kInitial);
}

TEST_F(DeltaPointTest, InitialValueKeepAndDrop) {
  DeltaPoint out;
  rules_.initial_value = InitialValue::kKeep;
  ASSERT_EQ(Feed({1, 2, int64_t{9}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<int64_t>(out.value), 9);
  seen_ = false;
  rules_.initial_value = InitialValue::kDrop;
  EXPECT_EQ(Feed({kGatewayStart + 1, kGatewayStart + 2, int64_t{9}}, &out), DeltaOutcome::kInitial);
}

TEST_F(DeltaPointTest, DecreaseIsAResetThatDropsThePointAndRebaselines) {
  DeltaPoint out;
  Feed({1, 10, int64_t{100}}, &out);
  EXPECT_EQ(Feed({1, 20, int64_t{4}}, &out), DeltaOutcome::kReset);
  ASSERT_EQ(Feed({1, 30, int64_t{6}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<int64_t>(out.value), 2);
  EXPECT_EQ(out.start_time_unix_nano, 20u);
}

TEST_F(DeltaPointTest, DoubleDecreaseIsAReset) {
  DeltaPoint out;
  Feed({1, 10, 1.5}, &out);
  EXPECT_EQ(Feed({1, 20, 1.25}, &out), DeltaOutcome::kReset);
  ASSERT_EQ(Feed({1, 30, 2.0}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<double>(out.value), 0.75);
}

TEST_F(DeltaPointTest, PointNotNewerThanTheLastIsOutOfOrderAndLeavesTheStateAlone) {
  DeltaPoint out;
  Feed({1, 10, int64_t{5}}, &out);
  ASSERT_EQ(Feed({1, 20, int64_t{8}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(Feed({1, 20, int64_t{8}}, &out), DeltaOutcome::kOutOfOrder);  // a retry
  EXPECT_EQ(Feed({1, 15, int64_t{7}}, &out), DeltaOutcome::kOutOfOrder);  // late
  ASSERT_EQ(Feed({1, 30, int64_t{11}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<int64_t>(out.value), 3);
  EXPECT_EQ(out.start_time_unix_nano, 20u);
}

TEST_F(DeltaPointTest, IntDeltaAcrossTheInt64RangeDoesNotOverflow) {
  DeltaPoint out;
  Feed({1, 10, std::numeric_limits<int64_t>::min()}, &out);
  ASSERT_EQ(Feed({1, 20, int64_t{-1}}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<int64_t>(out.value), std::numeric_limits<int64_t>::max());
}

TEST_F(DeltaPointTest, HistogramSubtractsCountSumAndBuckets) {
  DeltaPoint out;
  Feed({1, 10, Hist(3, 6.0, {1, 2, 0})}, &out);
  ASSERT_EQ(Feed({1, 20, Hist(7, 10.5, {2, 4, 1})}, &out), DeltaOutcome::kEmitted);
  const auto& h = std::get<HistogramValue>(out.value);
  EXPECT_EQ(h.count, 4u);
  EXPECT_EQ(h.sum, 4.5);
  EXPECT_EQ(h.bucket_counts, (std::vector<uint64_t>{1, 2, 1}));
  EXPECT_EQ(out.start_time_unix_nano, 10u);
}

TEST_F(DeltaPointTest, HistogramNanSumTakesThePreviousSum) {
  DeltaPoint out;
  Feed({1, 10, Hist(3, 6.0, {3})}, &out);
  ASSERT_EQ(Feed({1, 20, Hist(5, std::nan(""), {5})}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<HistogramValue>(out.value).sum, 0.0);
  EXPECT_EQ(std::get<HistogramValue>(state_.value).sum, 6.0);
  ASSERT_EQ(Feed({1, 30, Hist(6, 8.0, {6})}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<HistogramValue>(out.value).sum, 2.0);
}

TEST_F(DeltaPointTest, HistogramLayoutChangeIsABucketMismatchThatRebaselines) {
  DeltaPoint out;
  Feed({1, 10, Hist(3, 1, {1, 2})}, &out);
  EXPECT_EQ(Feed({1, 20, Hist(4, 2, {1, 2, 1})}, &out), DeltaOutcome::kBucketMismatch);
  EXPECT_EQ(Feed({1, 30, Hist(5, 3, {1, 2, 2}, 8)}, &out), DeltaOutcome::kBucketMismatch);
  ASSERT_EQ(Feed({1, 40, Hist(6, 4, {1, 2, 3}, 8)}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<HistogramValue>(out.value).count, 1u);
}

TEST_F(DeltaPointTest, HistogramBucketDecreaseIsAResetThatRebaselines) {
  DeltaPoint out;
  Feed({1, 10, Hist(10, 1, {5, 5})}, &out);
  EXPECT_EQ(Feed({1, 20, Hist(11, 2, {6, 4})}, &out), DeltaOutcome::kReset);
  ASSERT_EQ(Feed({1, 30, Hist(12, 3, {6, 5})}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<HistogramValue>(out.value).bucket_counts, (std::vector<uint64_t>{0, 1}));
}

ExpHistogramValue Exp(uint64_t count, double sum, int32_t scale, uint64_t zero, double zero_threshold,
                      ExpBuckets positive, ExpBuckets negative = {}) {
  return ExpHistogramValue{count, sum, zero, zero_threshold, scale, std::move(positive), std::move(negative)};
}

TEST_F(DeltaPointTest, ExpHistogramDiffStartsAtTheFirstBucketThatGrew) {
  DeltaPoint out;
  Feed({1, 10, Exp(6, 10, 2, 0, 0, {3, {1, 2, 3}})}, &out);
  ASSERT_EQ(Feed({1, 20, Exp(9, 16, 2, 1, 0, {3, {1, 4, 3, 1}})}, &out), DeltaOutcome::kEmitted);
  const auto& e = std::get<ExpHistogramValue>(out.value);
  EXPECT_EQ(e.count, 3u);
  EXPECT_EQ(e.sum, 6);
  EXPECT_EQ(e.zero_count, 1u);
  EXPECT_EQ(e.positive.offset, 4);
  EXPECT_EQ(e.positive.counts, (std::vector<uint64_t>{2, 0, 1}));
  EXPECT_TRUE(e.negative.counts.empty());
}

TEST_F(DeltaPointTest, ExpHistogramLowerScaleCoarsensThePreviousPoint) {
  DeltaPoint out;
  // Buckets 4..7 at scale 1 are buckets 2..3 at scale 0.
  Feed({1, 10, Exp(4, 1, 1, 0, 0, {4, {1, 1, 1, 1}})}, &out);
  ASSERT_EQ(Feed({1, 20, Exp(7, 2, 0, 0, 0, {2, {3, 4}})}, &out), DeltaOutcome::kEmitted);
  const auto& e = std::get<ExpHistogramValue>(out.value);
  EXPECT_EQ(e.scale, 0);
  EXPECT_EQ(e.positive.offset, 2);
  EXPECT_EQ(e.positive.counts, (std::vector<uint64_t>{1, 2}));
}

TEST_F(DeltaPointTest, ExpHistogramHigherZeroThresholdMovesLowBucketsIntoZero) {
  DeltaPoint out;
  // Scale 0: bucket i is (2^i, 2^(i+1)]. A threshold of 1.5 covers buckets
  // up to index ceil(log2(1.5)) - 1 = 0: -1 and 0, holding 1 + 2.
  Feed({1, 10, Exp(5, 1, 0, 1, 0.5, {-1, {1, 2, 1}})}, &out);
  ASSERT_EQ(Feed({1, 20, Exp(7, 2, 0, 5, 1.5, {1, {3}})}, &out), DeltaOutcome::kEmitted);
  const auto& e = std::get<ExpHistogramValue>(out.value);
  EXPECT_EQ(e.zero_count, 1u);  // 5 - (1 + 1 + 2)
  EXPECT_EQ(e.positive.offset, 1);
  EXPECT_EQ(e.positive.counts, (std::vector<uint64_t>{2}));
}

TEST_F(DeltaPointTest, ExpHistogramResets) {
  DeltaPoint out;
  Feed({1, 10, Exp(5, 1, 1, 0, 0.5, {0, {5}})}, &out);
  EXPECT_EQ(Feed({1, 20, Exp(4, 1, 1, 0, 0.5, {0, {4}})}, &out), DeltaOutcome::kReset);   // count down
  EXPECT_EQ(Feed({1, 30, Exp(5, 1, 2, 0, 0.5, {0, {5}})}, &out), DeltaOutcome::kReset);   // scale up
  EXPECT_EQ(Feed({1, 40, Exp(6, 1, 2, 0, 0.25, {0, {6}})}, &out), DeltaOutcome::kReset);  // threshold down
  EXPECT_EQ(Feed({1, 50, Exp(7, 1, 2, 0, 0.25, {0, {5, 2}})}, &out), DeltaOutcome::kReset);  // bucket down
  ASSERT_EQ(Feed({1, 60, Exp(8, 1, 2, 0, 0.25, {0, {5, 3}})}, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<ExpHistogramValue>(out.value).count, 1u);
}

TEST(ExpBucketsTest, CoarsenMergesNegativeIndicesWithArithmeticShifts) {
  const ExpBuckets b{-3, {1, 2, 3, 4}};  // buckets -3..0
  const ExpBuckets c = delta_internal::Coarsen(b, 1);
  EXPECT_EQ(c.offset, -2);  // -3>>1 = -2, -2>>1 = -1, -1>>1 = -1, 0>>1 = 0
  EXPECT_EQ(c.counts, (std::vector<uint64_t>{1, 5, 4}));
}

TEST(ExpBucketsTest, TrimZerosBelowTheOffsetTrimsNothing) {
  ExpBuckets b{5, {1, 2}};
  EXPECT_EQ(delta_internal::TrimZeros(b, 3), 0u);
  EXPECT_EQ(b.offset, 5);
  EXPECT_EQ(delta_internal::TrimZeros(b, 9), 3u);
  EXPECT_EQ(b.offset, 7);
  EXPECT_TRUE(b.counts.empty());
}

TEST(ExpBucketsTest, DiffOfEqualBucketsIsEmpty) {
  ExpBuckets out;
  ASSERT_TRUE(delta_internal::Diff({2, {1, 1}}, {2, {1, 1}}, &out));
  EXPECT_EQ(out.offset, 0);
  EXPECT_TRUE(out.counts.empty());
}

}  // namespace
}  // namespace gateway::metrics
