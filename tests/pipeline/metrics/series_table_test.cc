#include "pipeline/metrics/series_table.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace gateway::metrics {
namespace {

constexpr uint64_t kOld = 1;  // a start time before the gateway's

SeriesKey Key(int n) { return Fingerprint128(absl::StrCat("series-", n)); }

class SeriesTableTest : public ::testing::Test {
 protected:
  SeriesTableTest() { options_.shards = 1; }

  std::unique_ptr<SeriesTable> Make() {
    DeltaRules rules;
    rules.start_unix_nano = static_cast<uint64_t>(absl::ToUnixNanos(clock_.Now()));
    return std::make_unique<SeriesTable>(options_, rules, clock_, registry_);
  }

  DeltaOutcome Put(SeriesTable& table, int series, uint64_t time, int64_t value) {
    CumulativePoint p{kOld, time, value};
    DeltaPoint out;
    return table.Convert(Key(series), p, &out);
  }

  testing::FakeClock clock_;
  MetricsRegistry registry_;
  SeriesTableOptions options_;
};

TEST_F(SeriesTableTest, KeepsOneStatePerSeries) {
  auto table = Make();
  EXPECT_EQ(Put(*table, 1, 10, 5), DeltaOutcome::kInitial);
  EXPECT_EQ(Put(*table, 2, 10, 7), DeltaOutcome::kInitial);
  CumulativePoint p{kOld, 20, int64_t{9}};
  DeltaPoint out;
  ASSERT_EQ(table->Convert(Key(1), p, &out), DeltaOutcome::kEmitted);
  EXPECT_EQ(std::get<int64_t>(out.value), 4);
  EXPECT_EQ(table->series(), 2);
  EXPECT_EQ(table->bytes(), 2 * SeriesTable::EntryBytes(int64_t{0}));
}

TEST_F(SeriesTableTest, ASeriesIdleLongerThanTheTtlStartsOver) {
  options_.ttl = absl::Minutes(5);
  auto table = Make();
  Put(*table, 1, 10, 5);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(Put(*table, 1, 20, 6), DeltaOutcome::kEmitted);  // exactly the TTL: still known
  clock_.Advance(absl::Minutes(5) + absl::Seconds(1));
  EXPECT_EQ(Put(*table, 1, 30, 7), DeltaOutcome::kInitial);
  EXPECT_EQ(table->evicted_ttl(), 1);
  EXPECT_EQ(registry_.CounterValue("gateway_metrics_series_evicted_total", {{"reason", "ttl"}}), 1);
  EXPECT_EQ(table->series(), 1);
}

TEST_F(SeriesTableTest, IdleSeriesAreSweptWhileOthersAreUpdated) {
  options_.ttl = absl::Minutes(1);
  auto table = Make();
  for (int i = 0; i < 10; ++i) Put(*table, i, 10, 1);
  clock_.Advance(absl::Minutes(2));
  Put(*table, 100, 10, 1);
  EXPECT_EQ(table->series(), 1);
  EXPECT_EQ(table->evicted_ttl(), 10);
}

TEST_F(SeriesTableTest, PastMaxSeriesTheLeastRecentlyUpdatedGoes) {
  options_.max_series = 3;
  auto table = Make();
  Put(*table, 1, 10, 1);
  Put(*table, 2, 10, 1);
  Put(*table, 3, 10, 1);
  EXPECT_EQ(Put(*table, 1, 20, 2), DeltaOutcome::kEmitted);  // 1 is now the most recent
  Put(*table, 4, 10, 1);                                     // evicts 2
  EXPECT_EQ(table->series(), 3);
  EXPECT_EQ(table->evicted_capacity(), 1);
  EXPECT_EQ(Put(*table, 1, 30, 3), DeltaOutcome::kEmitted);
  EXPECT_EQ(Put(*table, 3, 30, 3), DeltaOutcome::kEmitted);
  EXPECT_EQ(Put(*table, 2, 30, 3), DeltaOutcome::kInitial);  // forgotten
}

TEST_F(SeriesTableTest, PastMaxBytesTheLeastRecentlyUpdatedGo) {
  const int64_t per_sum = SeriesTable::EntryBytes(int64_t{0});
  HistogramValue big{1, 1, 1, std::vector<uint64_t>(100, 0)};
  const int64_t per_histogram = SeriesTable::EntryBytes(big);
  ASSERT_GT(per_histogram, per_sum + 700);
  options_.max_bytes = 4 * per_sum + per_histogram - 1;
  auto table = Make();
  for (int i = 0; i < 4; ++i) Put(*table, i, 10, 1);
  CumulativePoint h{kOld, 10, big};
  DeltaPoint out;
  table->Convert(Key(99), h, &out);
  EXPECT_EQ(table->evicted_capacity(), 1);
  EXPECT_EQ(table->series(), 4);
  EXPECT_LE(table->bytes(), options_.max_bytes);
  EXPECT_EQ(Put(*table, 0, 20, 2), DeltaOutcome::kInitial);  // the oldest went
}

TEST_F(SeriesTableTest, OutOfOrderPointsDoNotRefreshTheSeries) {
  options_.ttl = absl::Minutes(1);
  auto table = Make();
  Put(*table, 1, 10, 1);
  clock_.Advance(absl::Seconds(50));
  EXPECT_EQ(Put(*table, 1, 5, 1), DeltaOutcome::kOutOfOrder);
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(Put(*table, 1, 20, 2), DeltaOutcome::kInitial);  // idle 70 s since its last update
}

TEST_F(SeriesTableTest, GaugesShowSeriesAndBytes) {
  auto table = Make();
  Put(*table, 1, 10, 1);
  const std::string text = registry_.RenderPrometheus();
  EXPECT_NE(text.find("gateway_metrics_series 1"), std::string::npos) << text;
  EXPECT_NE(text.find(absl::StrCat("gateway_metrics_series_bytes ", SeriesTable::EntryBytes(int64_t{0}))),
            std::string::npos)
      << text;
}

TEST_F(SeriesTableTest, ShardsShareTheBoundsAndConvertConcurrently) {
  options_.shards = 4;
  options_.max_series = 1000;
  auto table = Make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 1; round <= 50; ++round) {
        for (int s = 0; s < 100; ++s) Put(*table, t * 100 + s, static_cast<uint64_t>(round), round);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(table->series(), 400);
  EXPECT_EQ(table->evicted_capacity(), 0);
}

}  // namespace
}  // namespace gateway::metrics
