// Fuzzes the persistent queue's recovery: requests are written to a segment
// file by the queue itself (some holding bytes framed as records, as a client
// may send), the file is then damaged (bytes changed, the tail cut), and the
// queue is opened again. Whatever the damage:
//   - opening succeeds and Replay returns only requests that were appended,
//     each with its own signal and body (nothing forged, nothing mixed up);
//   - without damage, exactly the requests not acked come back;
//   - the queue keeps working: a request appended after recovery replays at
//     the next open.
//
// Input: byte 0: 1-6 requests; byte 1: which are acked; byte 2: bit 0 puts a
// forged data record and a forged ack of the first request inside the last
// payload, bit 1 cuts the file; then per request a length byte (0-63) and its
// payload; the rest, three bytes at a time, changes the file (offset u16 mod
// size, xor value), the last offset also being where the cut falls.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>

#include "pipeline/base/logging.h"
#include "pipeline/export/persistent_queue.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/pipeline/export/forged_record.h"

namespace {

using gateway::PersistentQueue;
using gateway::Signal;

using gateway::testing::ForgedRecord;
using gateway::testing::LittleEndian;

struct Appended {
  Signal signal;
  std::string body;
};

std::string Dir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp != nullptr ? tmp : "/tmp") + "/persistent_queue_fuzz_" + std::to_string(::getpid());
}

std::unique_ptr<PersistentQueue> Open(const std::string& dir) {
  gateway::PersistentQueueOptions options;
  options.sync = false;  // durability is not what is fuzzed; speed is wanted
  auto queue = gateway::OpenPersistentQueue(dir, 1 << 20, options);
  FUZZ_CHECK(queue.ok(), "opening a damaged queue failed");
  return *std::move(queue);
}

std::map<uint64_t, Appended> ReplayAll(PersistentQueue& queue) {
  std::map<uint64_t, Appended> out;
  const absl::Status status = queue.Replay([&](uint64_t id, Signal signal, std::string body) {
    FUZZ_CHECK(out.count(id) == 0, "a request replayed twice");
    out[id] = Appended{signal, std::move(body)};
  });
  FUZZ_CHECK(status.ok(), "replay failed");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const bool kQuiet = [] {
    gateway::SetLogLevel(gateway::LogLevel::kError);
    return true;
  }();
  (void)kQuiet;
  const std::string dir = Dir();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  const int requests = 1 + data[0] % 6;
  const uint8_t acks = data[1];
  const bool forge = (data[2] & 1) != 0;
  const bool cut = (data[2] & 2) != 0;
  size_t pos = 3;

  std::map<uint64_t, Appended> appended;
  std::map<uint64_t, Appended> expected;  // not acked
  std::string segment;
  {
    std::unique_ptr<PersistentQueue> queue = Open(dir);
    uint64_t first = 0;
    for (int i = 0; i < requests; ++i) {
      const size_t length = pos < size ? data[pos++] % 64 : 0;
      std::string body(reinterpret_cast<const char*>(data) + pos, std::min(length, size - pos));
      pos += body.size();
      if (forge && i + 1 == requests) {
        body += ForgedRecord(gateway::testing::kForgedData, Signal::kLogs, 999'999, "forged") +
                ForgedRecord(gateway::testing::kForgedAck, Signal::kTraces, 0, LittleEndian(first, 8));
      }
      const Signal signal = static_cast<Signal>(i % gateway::kSignalCount);
      absl::StatusOr<uint64_t> id = queue->Append(signal, body);
      FUZZ_CHECK(id.ok(), "append failed");
      if (i == 0) first = *id;
      appended[*id] = Appended{signal, body};
      if ((acks >> i) & 1) {
        queue->Ack(*id);
      } else {
        expected[*id] = Appended{signal, body};
      }
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".wal" && entry.file_size() > 0) segment = entry.path().string();
    }
  }
  FUZZ_CHECK(!segment.empty(), "no segment file written");

  // Damage.
  bool damaged = false;
  {
    std::string bytes;
    {
      FILE* f = std::fopen(segment.c_str(), "rb");
      FUZZ_CHECK(f != nullptr, "cannot read the segment");
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, n);
      std::fclose(f);
    }
    size_t last_offset = bytes.size();
    for (; pos + 3 <= size && !bytes.empty(); pos += 3) {
      const size_t offset = (size_t{data[pos]} | size_t{data[pos + 1]} << 8) % bytes.size();
      bytes[offset] = static_cast<char>(bytes[offset] ^ (data[pos + 2] | 1));
      last_offset = offset;
      damaged = true;
    }
    if (cut && last_offset < bytes.size()) {
      bytes.resize(last_offset);
      damaged = true;
    }
    FILE* f = std::fopen(segment.c_str(), "wb");
    FUZZ_CHECK(f != nullptr, "cannot write the segment");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }

  uint64_t after = 0;
  {
    std::unique_ptr<PersistentQueue> queue = Open(dir);
    const std::map<uint64_t, Appended> replayed = ReplayAll(*queue);
    for (const auto& [id, request] : replayed) {
      auto it = appended.find(id);
      FUZZ_CHECK(it != appended.end(), "replayed a request that was never appended");
      FUZZ_CHECK(it->second.signal == request.signal && it->second.body == request.body,
                 "replayed a request with another request's signal or body");
    }
    if (!damaged) {
      FUZZ_CHECK(replayed.size() == expected.size(), "an undamaged queue lost or revived requests");
      for (const auto& [id, request] : expected) FUZZ_CHECK(replayed.count(id) == 1, "a pending request was lost");
    }
    for (const auto& [id, request] : replayed) queue->Ack(id);
    absl::StatusOr<uint64_t> id = queue->Append(Signal::kTraces, "after recovery");
    FUZZ_CHECK(id.ok(), "append after recovery failed");
    after = *id;
  }
  {
    std::unique_ptr<PersistentQueue> queue = Open(dir);
    const std::map<uint64_t, Appended> replayed = ReplayAll(*queue);
    FUZZ_CHECK(replayed.size() == 1 && replayed.count(after) == 1 && replayed.at(after).body == "after recovery",
               "the request appended after recovery did not replay alone");
  }
  std::filesystem::remove_all(dir, ec);
  return 0;
}
