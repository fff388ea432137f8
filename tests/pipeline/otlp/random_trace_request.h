// A gtest fixture base that generates random, mostly valid OTLP trace
// requests from a fixed seed, for the trace wire differential tests: ids
// sometimes of the wrong length or zero, nested attribute values, events,
// links, unknown fields (now and then a group, which the scanner rejects).
//
//   class MyDifferentialTest : public testing::RandomTraceRequestTest {};
//   TEST_F(MyDifferentialTest, ...) {
//     for (int i = 0; i < 2000; ++i) Check(RandomRequest().SerializeAsString());
//   }
//
// The sequence depends only on the seed and the order of the calls, so a
// failure reproduces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace gateway::testing {

// The seed of every RandomTraceRequestTest.
inline constexpr uint64_t kDifferentialSeed = 20240611;

class RandomTraceRequestTest : public ::testing::Test {
 protected:
  using ExportTraceServiceRequest = ::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
  using Span = ::opentelemetry::proto::trace::v1::Span;

  // `size` random bytes, not all zero (when size > 0).
  std::string RandomId(size_t size);
  // Mostly valid; sometimes wrong length or zero.
  std::string MaybeBadId(size_t size);
  bool OneIn(int n) { return rng_() % n == 0; }
  std::string RandomText() { return std::string(rng_() % 12, static_cast<char>('a' + rng_() % 26)); }
  // Now and then adds one unknown field of a random wire type to `message`.
  void AddUnknowns(::google::protobuf::Message* message);
  void FillAnyValue(::opentelemetry::proto::common::v1::AnyValue* value, int depth);
  void AddAttributes(::google::protobuf::RepeatedPtrField<::opentelemetry::proto::common::v1::KeyValue>* out);
  Span RandomSpan();
  // One to three resources, with few distinct frames, so equal frames from
  // different requests meet.
  ExportTraceServiceRequest RandomRequest();

  std::mt19937_64 rng_{kDifferentialSeed};
};

}  // namespace gateway::testing
