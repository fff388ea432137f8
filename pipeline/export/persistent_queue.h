// An on-disk write-ahead log of export requests, so a restart or a long
// outage of the export target loses nothing that was acknowledged to a client.
//
//   GATEWAY_ASSIGN_OR_RETURN(std::unique_ptr<PersistentQueue> queue,
//                            OpenPersistentQueue("/var/lib/gateway/queue", 1 << 30));
//   queue->Replay([&](uint64_t id, Signal s, std::string body) { ... });  // at start-up
//   absl::StatusOr<uint64_t> id = queue->Append(Signal::kTraces, body);  // durable on return
//   ...                                                                  // once exported:
//   queue->Ack(*id);
//
// Records live in segment files (`segment-<seq>.wal`, rolled at
// `segment_bytes`), each starting with
//   magic u32 | version u32 | salt u64
// then records framed as
//   magic u32 | payload length u32 | crc32 u32 | type u8 | signal u8 | 0 u16 | id u64 | payload
// (little-endian; the CRC covers the file's random salt, then length, type,
// signal, id and payload, so that bytes a client sent inside a payload can
// never pass for a record). Acks
// are appended as records too, without waiting for the disk; a segment file
// is deleted once every request in it is acked. Space is reclaimed by live
// bytes: when the queue is full and its oldest segment is mostly acked, the
// requests still pending there are copied to the newest segment and the old
// file is deleted, so one request held for long does not pin every segment
// written after it. After a crash, a torn record at the end of a segment is
// cut off; a corrupt record followed by valid ones is skipped; both are
// counted and logged. Delivery is at least once: acks not yet on disk when
// the process dies replay their requests again.
//
// A failed write or fdatasync fails closed: the requests it may have lost
// are refused to their callers (never acknowledged), the segment file is
// abandoned for a new one (a later fdatasync on the same file could report
// success for pages the kernel already dropped), and Healthy() is false
// until an Append is durable again. A full disk refuses Appends and
// recovers by itself when space returns.
//
// Thread-safe. Concurrent Appends share one fdatasync (group commit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/export/file_io.h"
#include "pipeline/base/signal.h"
#include "pipeline/base/sync.h"

namespace gateway {

struct PersistentQueueOptions {
  // A new segment file is started once the current one reaches this size.
  int64_t segment_bytes = 64ll << 20;
  // fdatasync before Append returns. Off only for tests and benchmarks.
  bool sync = true;
  // The system calls; tests inject failures. Null: PosixFileIo().
  FileIo* io = nullptr;
};

class PersistentQueue final {
 public:
  using ReplayFn = std::function<void(uint64_t id, Signal signal, std::string body)>;

  ~PersistentQueue();
  PersistentQueue(const PersistentQueue&) = delete;
  PersistentQueue& operator=(const PersistentQueue&) = delete;

  // Writes the request and makes it durable. ResourceExhausted when the
  // queue's files would exceed max_bytes even after reclaiming acked space
  // (callers push back on the client); Unavailable when the write or the
  // fdatasync that would make it durable failed (nothing is acknowledged;
  // the caller pushes back and the client retries). Any thread.
  absl::StatusOr<uint64_t> Append(Signal signal, std::string_view request);

  // Marks a request done. Unknown or repeated ids are ignored. Never waits
  // for the disk. Any thread.
  void Ack(uint64_t id);

  // Calls `fn` for every request that was not acked when the queue was
  // opened, oldest first. Call once, at start-up, before acking those ids.
  absl::Status Replay(const ReplayFn& fn);

  // Bytes in segment files now / the bound.
  int64_t UsedBytes() const;
  int64_t MaxBytes() const { return max_bytes_; }
  // Requests appended (or found at open) and not yet acked.
  int64_t PendingRecords() const;
  // Found when opening: corrupt records skipped, torn tail bytes cut off.
  int64_t CorruptRecordsSkipped() const { return corrupt_records_; }
  int64_t TornBytesTruncated() const { return torn_bytes_; }
  // False from a failed write or fdatasync until an Append is durable again.
  bool Healthy() const;
  // Since open: writes and fdatasyncs that failed; bytes of pending requests
  // copied forward to free a mostly acked segment.
  int64_t WriteFailures() const;
  int64_t SyncFailures() const;
  int64_t CompactedBytes() const;

 private:
  friend absl::StatusOr<std::unique_ptr<PersistentQueue>> OpenPersistentQueue(const std::string&, int64_t,
                                                                               PersistentQueueOptions);
  struct Segment {
    std::string path;
    int64_t bytes = 0;
    int64_t live = 0;        // data records not acked
    int64_t live_bytes = 0;  // their framed size
    // Seeds the CRC of every record in the file (see kSegmentMagic); only
    // the segments this process created are written to.
    char salt[8] = {};
  };
  struct Location {
    uint64_t segment = 0;
    int64_t offset = 0;  // of the payload
    uint32_t length = 0;
    Signal signal = Signal::kTraces;
  };
  class Fd;

  PersistentQueue(std::string dir, int64_t max_bytes, PersistentQueueOptions options);
  absl::Status Load();
  absl::Status ScanSegment(uint64_t seq, Segment& segment, bool last, std::set<uint64_t>& acked);
  absl::Status RollSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteRecord(uint8_t type, Signal signal, uint64_t id, std::string_view payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeDeleteSegment(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a data record and indexes it as pending in the active segment.
  absl::Status WriteData(Signal signal, uint64_t id, std::string_view payload) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops a pending record from the index; its segment may then go.
  void Forget(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies the pending records of the oldest segment, when at most a quarter
  // of it is live, to the active one, syncs, and deletes the old file. True
  // if it freed a segment.
  bool CompactOldest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a failed write or fdatasync: every record written to the active
  // file so far is suspect (its Append fails), and a new file takes over.
  void AbandonActiveSegment(const absl::Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const int64_t max_bytes_;
  const PersistentQueueOptions options_;
  FileIo& io_;
  int64_t corrupt_records_ = 0;
  int64_t torn_bytes_ = 0;

  mutable Mutex mu_;
  std::map<uint64_t, Segment> segments_ ABSL_GUARDED_BY(mu_);
  // Unacked data records: id -> where.
  std::map<uint64_t, Location> pending_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> replayable_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t active_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<Fd> active_ ABSL_GUARDED_BY(mu_);
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t written_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Appends with a write sequence up to this were in an abandoned file.
  uint64_t failed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool healthy_ ABSL_GUARDED_BY(mu_) = true;
  int64_t write_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t sync_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t compacted_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  // Group commit: the first Append to arrive syncs for everyone written so far.
  Mutex sync_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  uint64_t synced_seq_ ABSL_GUARDED_BY(sync_mu_) = 0;
};

// Opens (creating if needed) the queue in `dir`, scanning existing segments.
absl::StatusOr<std::unique_ptr<PersistentQueue>> OpenPersistentQueue(const std::string& dir, int64_t max_bytes,
                                                                     PersistentQueueOptions options = {});

}  // namespace gateway
