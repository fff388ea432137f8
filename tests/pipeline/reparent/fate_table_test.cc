#include "pipeline/reparent/fate_table.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "pipeline/otlp/trace_ids.h"

namespace gateway {
namespace {

TraceId MakeTraceId(uint64_t hi, uint64_t lo) {
  TraceId id;
  for (size_t i = 0; i < 8; ++i) {
    id.bytes[i] = static_cast<uint8_t>(hi >> (8 * (7 - i)));
    id.bytes[8 + i] = static_cast<uint8_t>(lo >> (8 * (7 - i)));
  }
  return id;
}

SpanId MakeSpanId(uint64_t value) {
  SpanId id;
  for (size_t i = 0; i < 8; ++i) id.bytes[i] = static_cast<uint8_t>(value >> (8 * (7 - i)));
  return id;
}

class FateTableTest : public ::testing::Test {
 protected:
  // `count` fingerprints as the resolver makes them from random ids (a
  // fixed sequence), distinct in bits 1..63.
  static std::vector<uint64_t> Fingerprints(size_t count) {
    std::mt19937_64 rng(7);
    std::vector<uint64_t> out;
    std::set<uint64_t> seen;
    while (out.size() < count) {
      const uint64_t fingerprint = FateFingerprint(FateKey(MakeTraceId(rng(), rng()), MakeSpanId(rng())));
      if (seen.insert(fingerprint >> 1).second) out.push_back(fingerprint);
    }
    return out;
  }

  // Inserts into `table`, growing it first as its owner must.
  static void InsertGrowing(FateTable* table, uint64_t fingerprint, bool moved) {
    if (table->Full()) {
      table->Grow(table->capacity() == 0 ? FateTable::kInitialCapacity : 2 * table->capacity());
    }
    table->Insert(fingerprint, moved);
  }
};

TEST_F(FateTableTest, AKeyIsEqualOnlyToTheSameIdsAndFingerprintsDependOnEveryWord) {
  const FateKey key(MakeTraceId(1, 2), MakeSpanId(3));
  EXPECT_EQ(key, FateKey(MakeTraceId(1, 2), MakeSpanId(3)));
  EXPECT_FALSE(key == FateKey(MakeTraceId(9, 2), MakeSpanId(3)));
  EXPECT_FALSE(key == FateKey(MakeTraceId(1, 9), MakeSpanId(3)));
  EXPECT_FALSE(key == FateKey(MakeTraceId(1, 2), MakeSpanId(9)));
  EXPECT_EQ(FateFingerprint(key), FateFingerprint(FateKey(MakeTraceId(1, 2), MakeSpanId(3))));
  // Keys one bit apart in any one word get another fingerprint.
  const uint64_t fingerprint = FateFingerprint(key);
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t flip = uint64_t{1} << bit;
    EXPECT_NE(FateFingerprint(FateKey(MakeTraceId(1 ^ flip, 2), MakeSpanId(3))), fingerprint) << bit;
    EXPECT_NE(FateFingerprint(FateKey(MakeTraceId(1, 2 ^ flip), MakeSpanId(3))), fingerprint) << bit;
    EXPECT_NE(FateFingerprint(FateKey(MakeTraceId(1, 2), MakeSpanId(3 ^ flip))), fingerprint) << bit;
  }
}

TEST_F(FateTableTest, ANewTableHoldsNothingAndMustGrowBeforeTheFirstInsert) {
  FateTable table;
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.capacity(), 0u);
  EXPECT_TRUE(table.Full());
  EXPECT_EQ(table.Find(12345), FateTable::kAbsent);
  table.Prefetch(12345);  // no slots: nothing to touch
}

TEST_F(FateTableTest, InsertedFingerprintsAreFoundWithTheirMovedMark) {
  FateTable table;
  const std::vector<uint64_t> fingerprints = Fingerprints(3000);
  for (size_t i = 0; i < fingerprints.size(); ++i) InsertGrowing(&table, fingerprints[i], i % 3 == 0);
  EXPECT_EQ(table.size(), fingerprints.size());
  EXPECT_GE(table.capacity(), 2 * table.size());
  for (size_t i = 0; i < fingerprints.size(); ++i) {
    EXPECT_EQ(table.Find(fingerprints[i]), i % 3 == 0 ? FateTable::kMoved : FateTable::kUnchanged) << i;
  }
  const std::vector<uint64_t> more = Fingerprints(3100);
  for (size_t i = fingerprints.size(); i < more.size(); ++i) EXPECT_EQ(table.Find(more[i]), FateTable::kAbsent) << i;
}

TEST_F(FateTableTest, MovedSticksOnceSetAndBitZeroIsTheMarkNotTheKey) {
  FateTable table;
  table.Grow(FateTable::kInitialCapacity);
  const uint64_t fingerprint = 0x1234567890abcdeeULL;
  table.Insert(fingerprint, false);
  EXPECT_EQ(table.Find(fingerprint), FateTable::kUnchanged);
  table.Insert(fingerprint, true);
  EXPECT_EQ(table.Find(fingerprint), FateTable::kMoved);
  table.Insert(fingerprint, false);
  EXPECT_EQ(table.Find(fingerprint), FateTable::kMoved);
  // Fingerprints that differ only in bit 0 are one entry.
  EXPECT_EQ(table.Find(fingerprint | 1), FateTable::kMoved);
  table.Insert(fingerprint | 1, false);
  EXPECT_EQ(table.size(), 1u);
  // Zero is a fingerprint like any other (an empty slot is not confused with it).
  EXPECT_EQ(table.Find(0), FateTable::kAbsent);
  table.Insert(0, false);
  EXPECT_EQ(table.Find(0), FateTable::kUnchanged);
  EXPECT_EQ(table.size(), 2u);
}

TEST_F(FateTableTest, FullAtHalfTheSlots) {
  FateTable table;
  table.Grow(8);
  const std::vector<uint64_t> fingerprints = Fingerprints(4);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(table.Full()) << i;
    table.Insert(fingerprints[i], false);
  }
  EXPECT_FALSE(table.Full());
  table.Insert(fingerprints[3], false);
  EXPECT_TRUE(table.Full());
  EXPECT_EQ(table.size(), 4u);
}

TEST_F(FateTableTest, GrowKeepsEveryEntryAndMark) {
  FateTable table;
  table.Grow(64);
  const std::vector<uint64_t> fingerprints = Fingerprints(31);
  for (size_t i = 0; i < fingerprints.size(); ++i) table.Insert(fingerprints[i], i % 2 == 0);
  table.Grow(4096);
  EXPECT_EQ(table.capacity(), 4096u);
  EXPECT_EQ(table.size(), fingerprints.size());
  for (size_t i = 0; i < fingerprints.size(); ++i) {
    EXPECT_EQ(table.Find(fingerprints[i]), i % 2 == 0 ? FateTable::kMoved : FateTable::kUnchanged) << i;
  }
}

TEST_F(FateTableTest, EmptyForgetsAndKeepsTheSlotsClearGivesThemBack) {
  FateTable table;
  const std::vector<uint64_t> fingerprints = Fingerprints(100);
  for (uint64_t fingerprint : fingerprints) InsertGrowing(&table, fingerprint, true);
  const size_t capacity = table.capacity();
  table.Empty();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.capacity(), capacity);
  EXPECT_FALSE(table.Full());
  for (uint64_t fingerprint : fingerprints) EXPECT_EQ(table.Find(fingerprint), FateTable::kAbsent);
  table.Insert(fingerprints[0], false);
  EXPECT_EQ(table.Find(fingerprints[0]), FateTable::kUnchanged);
  table.Clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.capacity(), 0u);
  EXPECT_EQ(table.Find(fingerprints[0]), FateTable::kAbsent);
}

TEST_F(FateTableTest, MovedTableKeepsTheLatestNewTracePerExactKey) {
  MovedTable table;
  EXPECT_TRUE(table.empty());
  EXPECT_TRUE(table.Full());
  table.Grow(MovedTable::kInitialCapacity);
  const FateKey a(MakeTraceId(1, 1), MakeSpanId(1));
  const FateKey b(MakeTraceId(1, 1), MakeSpanId(2));
  // The same fingerprint for both: the table tells them apart by key.
  const uint64_t fingerprint = FateFingerprint(a);
  table.InsertOrAssign(a, fingerprint, MakeTraceId(7, 7));
  EXPECT_EQ(table.Find(b, fingerprint), nullptr);
  table.InsertOrAssign(b, fingerprint, MakeTraceId(8, 8));
  table.InsertOrAssign(a, fingerprint, MakeTraceId(9, 9));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_FALSE(table.empty());
  ASSERT_NE(table.Find(a, fingerprint), nullptr);
  EXPECT_EQ(*table.Find(a, fingerprint), MakeTraceId(9, 9));
  ASSERT_NE(table.Find(b, fingerprint), nullptr);
  EXPECT_EQ(*table.Find(b, fingerprint), MakeTraceId(8, 8));
  const FateKey absent(MakeTraceId(3, 3), MakeSpanId(3));
  EXPECT_EQ(table.Find(absent, FateFingerprint(absent)), nullptr);
}

TEST_F(FateTableTest, MovedTableGrowEmptyAndClear) {
  MovedTable table;
  std::vector<FateKey> keys;
  for (uint64_t i = 1; i <= 200; ++i) {
    keys.emplace_back(MakeTraceId(5, i), MakeSpanId(i));
    if (table.Full()) table.Grow(table.capacity() == 0 ? MovedTable::kInitialCapacity : 2 * table.capacity());
    table.InsertOrAssign(keys.back(), FateFingerprint(keys.back()), MakeTraceId(6, i));
  }
  EXPECT_EQ(table.size(), keys.size());
  table.Grow(4 * table.capacity());
  for (uint64_t i = 1; i <= keys.size(); ++i) {
    const TraceId* new_trace = table.Find(keys[i - 1], FateFingerprint(keys[i - 1]));
    ASSERT_NE(new_trace, nullptr) << i;
    EXPECT_EQ(*new_trace, MakeTraceId(6, i));
  }
  const size_t capacity = table.capacity();
  table.Empty();
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.capacity(), capacity);
  EXPECT_EQ(table.Find(keys[0], FateFingerprint(keys[0])), nullptr);
  table.Clear();
  EXPECT_EQ(table.capacity(), 0u);
  EXPECT_EQ(table.Find(keys[0], FateFingerprint(keys[0])), nullptr);
}

}  // namespace
}  // namespace gateway
