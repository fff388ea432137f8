#include "pipeline/export/persistent_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/logging.h"
#include "pipeline/base/status_macros.h"
#include "pipeline/export/wal_format.h"

namespace gateway {
namespace {

using wal_format::Framed;
using wal_format::Get32;
using wal_format::Get64;
using wal_format::kHeaderBytes;
using wal_format::kMagic;
using wal_format::kMaxPayload;
using wal_format::kPrefix;
using wal_format::kSegmentHeaderBytes;
using wal_format::kSegmentMagic;
using wal_format::kSegmentVersion;
using wal_format::kSuffix;
using wal_format::kTypeAck;
using wal_format::kTypeData;
using wal_format::Parsed;
using wal_format::ParseRecord;
using wal_format::Put32;
using wal_format::Put64;
using wal_format::RecordCrc;

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}


class PosixIo final : public FileIo {
 public:
  ssize_t Write(int fd, const void* data, size_t size) override { return ::write(fd, data, size); }
  int Fdatasync(int fd) override { return ::fdatasync(fd); }
};

absl::Status WriteAll(FileIo& io, int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = io.Write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("persistent queue write: ", std::strerror(errno)));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

std::string SegmentPath(const std::string& dir, uint64_t seq) {
  std::string number = absl::StrCat(seq);
  if (number.size() < 12) number.insert(0, 12 - number.size(), '0');
  return absl::StrCat(dir, "/", std::string(kPrefix), number, std::string(kSuffix));
}

}  // namespace

FileIo& PosixFileIo() {
  static PosixIo* const io = new PosixIo();
  return *io;
}

class PersistentQueue::Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

PersistentQueue::PersistentQueue(std::string dir, int64_t max_bytes, PersistentQueueOptions options)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      options_(options),
      io_(options.io != nullptr ? *options.io : PosixFileIo()) {}

PersistentQueue::~PersistentQueue() {
  MutexLock lock(&mu_);
  if (active_ && options_.sync) io_.Fdatasync(active_->get());
}

absl::StatusOr<std::unique_ptr<PersistentQueue>> OpenPersistentQueue(const std::string& dir, int64_t max_bytes,
                                                                     PersistentQueueOptions options) {
  if (max_bytes <= 0) return absl::InvalidArgumentError("persistent queue max_bytes must be positive");
  if (options.segment_bytes <= 0) return absl::InvalidArgumentError("segment_bytes must be positive");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  std::unique_ptr<PersistentQueue> queue(new PersistentQueue(dir, max_bytes, options));
  GATEWAY_RETURN_IF_ERROR(queue->Load());
  return queue;
}

absl::Status PersistentQueue::Load() {
  std::vector<uint64_t> seqs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= kPrefix.size() + kSuffix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    uint64_t seq = 0;
    if (absl::SimpleAtoi(name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size()), &seq)) {
      seqs.push_back(seq);
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", dir_, ": ", ec.message()));
  std::sort(seqs.begin(), seqs.end());

  MutexLock lock(&mu_);
  std::set<uint64_t> acked;
  uint64_t max_id = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Segment& segment = segments_[seqs[i]];
    segment.path = SegmentPath(dir_, seqs[i]);
    GATEWAY_RETURN_IF_ERROR(ScanSegment(seqs[i], segment, i + 1 == seqs.size(), acked));
    used_bytes_ += segment.bytes;
    active_seq_ = seqs[i];
  }
  for (const auto& [id, location] : pending_) max_id = std::max(max_id, id);
  if (!acked.empty()) max_id = std::max(max_id, *acked.rbegin());
  for (uint64_t id : acked) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    Segment& segment = segments_[it->second.segment];
    segment.live--;
    segment.live_bytes -= Framed(it->second.length);
    pending_.erase(it);
  }
  for (const auto& [id, location] : pending_) replayable_.insert(id);
  if (corrupt_records_ > 0 || torn_bytes_ > 0) {
    LogWarn("persistent_queue_damage_found", {{"directory", dir_},
                                              {"corrupt_records_skipped", absl::StrCat(corrupt_records_)},
                                              {"torn_bytes_truncated", absl::StrCat(torn_bytes_)}});
  }
  next_id_ = max_id + 1;
  GATEWAY_RETURN_IF_ERROR(RollSegment());
  MaybeDeleteSegment(0);
  return absl::OkStatus();
}

absl::Status PersistentQueue::ScanSegment(uint64_t seq, Segment& segment, bool last, std::set<uint64_t>& acked) {
  int fd = ::open(segment.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", segment.path);
  Fd holder(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat", segment.path);
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return ErrnoStatus("read", segment.path);
    got += static_cast<size_t>(r);
  }
  // A file written before segment headers existed starts with a record valid
  // without a salt; any other file has a header, damaged or not, and its
  // records are checked with the salt it holds (a damaged salt fails them
  // all: lost, but never a payload's bytes taken for records).
  size_t pos = 0;
  char salt_bytes[8] = {};
  const char* salt = nullptr;
  Parsed first;
  if (!ParseRecord(data, 0, nullptr, &first)) {
    if (data.size() >= kSegmentHeaderBytes) std::memcpy(salt_bytes, data.data() + 8, 8);
    salt = salt_bytes;
    pos = std::min(data.size(), kSegmentHeaderBytes);
  }
  while (pos < data.size()) {
    Parsed rec;
    if (!ParseRecord(data, pos, salt, &rec)) {
      // Resynchronize on the next valid record; none means a torn tail.
      size_t next = pos + 1;
      bool found = false;
      for (; next + kHeaderBytes <= data.size(); ++next) {
        if (Get32(data.data() + next) == kMagic && ParseRecord(data, next, salt, &rec)) {
          found = true;
          break;
        }
      }
      if (!found) {
        torn_bytes_ += static_cast<int64_t>(data.size() - pos);
        if (::ftruncate(fd, static_cast<off_t>(pos)) != 0) return ErrnoStatus("truncate", segment.path);
        data.resize(pos);
        break;
      }
      ++corrupt_records_;
      pos = next;
    }
    if (rec.type == kTypeData) {
      // A request copied forward by compaction may still be in the older file
      // too (a crash before that file was deleted): the newest copy counts.
      auto [it, inserted] = pending_.try_emplace(rec.id);
      if (!inserted) {
        Segment& older = it->second.segment == seq ? segment : segments_[it->second.segment];
        older.live--;
        older.live_bytes -= Framed(it->second.length);
      }
      it->second = Location{seq, static_cast<int64_t>(pos + kHeaderBytes),
                            static_cast<uint32_t>(rec.payload.size()), rec.signal};
      segment.live++;
      segment.live_bytes += Framed(it->second.length);
    } else {
      for (size_t i = 0; i + 8 <= rec.payload.size(); i += 8) acked.insert(Get64(rec.payload.data() + i));
    }
    pos += rec.size;
  }
  (void)last;
  segment.bytes = static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::Status PersistentQueue::RollSegment() {
  if (active_ && options_.sync && io_.Fdatasync(active_->get()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("persistent queue fdatasync ", segments_[active_seq_].path, ": ", std::strerror(errno)));
  }
  const uint64_t seq = active_seq_ + 1;
  const std::string path = SegmentPath(dir_, seq);
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", path);
  Segment fresh{path, static_cast<int64_t>(kSegmentHeaderBytes), 0, 0, {}};
  {
    std::random_device random;
    Put32(fresh.salt, random());
    Put32(fresh.salt + 4, random());
  }
  char header[kSegmentHeaderBytes];
  Put32(header, kSegmentMagic);
  Put32(header + 4, kSegmentVersion);
  std::memcpy(header + 8, fresh.salt, 8);
  if (absl::Status written = WriteAll(io_, fd, header, sizeof(header)); !written.ok()) {
    ::close(fd);
    ::unlink(path.c_str());
    return written;
  }
  if (options_.sync) {
    int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  const uint64_t previous = active_seq_;
  active_ = std::make_shared<Fd>(fd);
  active_seq_ = seq;
  segments_[seq] = fresh;
  used_bytes_ += fresh.bytes;
  MaybeDeleteSegment(previous);
  return absl::OkStatus();
}

absl::Status PersistentQueue::WriteRecord(uint8_t type, Signal signal, uint64_t id, std::string_view payload) {
  Segment& segment = segments_[active_seq_];
  char header[kHeaderBytes] = {0};
  Put32(header, kMagic);
  Put32(header + 4, static_cast<uint32_t>(payload.size()));
  header[12] = static_cast<char>(type);
  header[13] = static_cast<char>(signal);
  Put64(header + 16, id);
  Put32(header + 8, RecordCrc(segment.salt, header, payload));
  absl::Status s = WriteAll(io_, active_->get(), header, kHeaderBytes);
  if (s.ok()) s = WriteAll(io_, active_->get(), payload.data(), payload.size());
  if (!s.ok()) {
    ++write_failures_;
    healthy_ = false;
    // Drop the partial record so later ones follow valid data; if even that
    // fails, the file is given up.
    if (::ftruncate(active_->get(), static_cast<off_t>(segment.bytes)) != 0) {
      AbandonActiveSegment(s);
    }
    return s;
  }
  const int64_t size = static_cast<int64_t>(kHeaderBytes + payload.size());
  segment.bytes += size;
  used_bytes_ += size;
  return absl::OkStatus();
}

void PersistentQueue::MaybeDeleteSegment(uint64_t) {
  // Oldest first only: a segment's ack records may refer to requests in older
  // segments, so deleting it before them would replay acked requests.
  while (!segments_.empty()) {
    auto oldest = segments_.begin();
    if (oldest->first == active_seq_ || oldest->second.live > 0) break;
    ::unlink(oldest->second.path.c_str());
    used_bytes_ -= oldest->second.bytes;
    segments_.erase(oldest);
  }
}

absl::Status PersistentQueue::WriteData(Signal signal, uint64_t id, std::string_view payload) {
  if (!active_) GATEWAY_RETURN_IF_ERROR(RollSegment());
  const int64_t offset = segments_[active_seq_].bytes;
  GATEWAY_RETURN_IF_ERROR(WriteRecord(kTypeData, signal, id, payload));
  pending_[id] = Location{active_seq_, offset + static_cast<int64_t>(kHeaderBytes),
                          static_cast<uint32_t>(payload.size()), signal};
  Segment& segment = segments_[active_seq_];
  segment.live++;
  segment.live_bytes += Framed(static_cast<uint32_t>(payload.size()));
  return absl::OkStatus();
}

void PersistentQueue::AbandonActiveSegment(const absl::Status& cause) {
  healthy_ = false;
  failed_seq_ = written_seq_;
  LogError("persistent_queue_segment_abandoned",
           {{"segment", active_ ? segments_[active_seq_].path : std::string("-")},
            {"error", std::string(cause.message())},
            {"action", "requests not yet durable are refused to their clients; a new segment file takes over"}});
  active_.reset();  // closes the file without another fdatasync
  if (absl::Status rolled = RollSegment(); !rolled.ok()) {
    // No file to write to: Appends retry the roll and fail until one opens.
    LogError("persistent_queue_segment_create_failed", {{"error", std::string(rolled.message())}});
  }
}

bool PersistentQueue::CompactOldest() {
  if (segments_.size() < 2) return false;
  const uint64_t old_seq = segments_.begin()->first;
  Segment& old = segments_.begin()->second;
  if (old_seq == active_seq_ || !active_ || old.live_bytes * 4 > old.bytes) return false;
  std::vector<std::pair<uint64_t, Location>> pinned;
  for (const auto& [id, location] : pending_) {
    if (location.segment == old_seq) pinned.emplace_back(id, location);
  }
  int fd = ::open(old.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Fd holder(fd);
  size_t copied = 0;
  // Points the first `copied` requests back at their originals: the copies
  // may not be on disk.
  auto revert = [&] {
    for (size_t i = 0; i < copied; ++i) {
      const auto& [id, original] = pinned[i];
      Location& now = pending_[id];
      segments_[now.segment].live--;
      segments_[now.segment].live_bytes -= Framed(now.length);
      now = original;
      old.live++;
      old.live_bytes += Framed(original.length);
    }
  };
  int64_t copied_bytes = 0;
  for (const auto& [id, location] : pinned) {
    std::string body(location.length, '\0');
    if (::pread(fd, body.data(), body.size(), static_cast<off_t>(location.offset)) !=
            static_cast<ssize_t>(body.size()) ||
        !WriteData(location.signal, id, body).ok()) {
      revert();
      return false;
    }
    old.live--;
    old.live_bytes -= Framed(location.length);
    copied_bytes += Framed(location.length);
    ++copied;
  }
  if (options_.sync && copied > 0 && io_.Fdatasync(active_->get()) != 0) {
    const absl::Status s = absl::UnavailableError(absl::StrCat("fdatasync: ", std::strerror(errno)));
    revert();
    ++sync_failures_;
    AbandonActiveSegment(s);
    return false;
  }
  compacted_bytes_ += copied_bytes;
  MaybeDeleteSegment(old_seq);
  return segments_.empty() || segments_.begin()->first != old_seq;
}

absl::StatusOr<uint64_t> PersistentQueue::Append(Signal signal, std::string_view request) {
  if (request.size() > kMaxPayload) return absl::InvalidArgumentError("request too large for the queue");
  const int64_t size = static_cast<int64_t>(kHeaderBytes + request.size());
  uint64_t id;
  uint64_t my_seq;
  {
    MutexLock lock(&mu_);
    while (used_bytes_ + size > max_bytes_ && CompactOldest()) {
    }
    if (used_bytes_ + size > max_bytes_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("persistent queue full (", used_bytes_, " of ", max_bytes_, " bytes)"));
    }
    if (!active_ || segments_[active_seq_].bytes >= options_.segment_bytes) {
      if (absl::Status rolled = RollSegment(); !rolled.ok()) {
        if (active_) {
          ++sync_failures_;
          AbandonActiveSegment(rolled);
        }
        return rolled;
      }
    }
    id = next_id_;
    GATEWAY_RETURN_IF_ERROR(WriteData(signal, id, request));
    ++next_id_;
    my_seq = ++written_seq_;
    if (!options_.sync) healthy_ = true;
  }
  if (!options_.sync) return id;
  MutexLock sync_lock(&sync_mu_);
  std::shared_ptr<Fd> fd;
  uint64_t target;
  {
    MutexLock lock(&mu_);
    if (my_seq <= failed_seq_) {
      // Written to a file abandoned after a failed write or fdatasync: it may
      // not be on disk, so it is not acknowledged (nor replayed).
      fd = nullptr;
    } else if (synced_seq_ >= my_seq) {
      return id;  // another Append's fdatasync covered it
    } else {
      fd = active_;
    }
    target = written_seq_;
  }
  if (fd == nullptr) {
    Ack(id);
    return absl::UnavailableError("persistent queue: a write or fdatasync failed before this request was durable");
  }
  // Records written before a roll were synced by RollSegment.
  if (io_.Fdatasync(fd->get()) != 0) {
    absl::Status s = absl::UnavailableError(absl::StrCat("persistent queue fdatasync: ", std::strerror(errno)));
    {
      MutexLock lock(&mu_);
      ++sync_failures_;
      // Never fdatasync this file again: the kernel may have dropped the
      // pages that failed and report the next call as a success.
      if (active_ == fd) {
        AbandonActiveSegment(s);
      } else {
        failed_seq_ = std::max(failed_seq_, target);
        healthy_ = false;
      }
    }
    Ack(id);
    return s;
  }
  synced_seq_ = target;
  {
    MutexLock lock(&mu_);
    healthy_ = true;
  }
  return id;
}

void PersistentQueue::Ack(uint64_t id) {
  MutexLock lock(&mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  const uint64_t seq = it->second.segment;
  segments_[seq].live--;
  segments_[seq].live_bytes -= Framed(it->second.length);
  pending_.erase(it);
  replayable_.erase(id);
  // Acks may go over max_bytes slightly: they are what frees space. A lost
  // ack only means the request is replayed again after a restart.
  if (!active_ || segments_[active_seq_].bytes >= options_.segment_bytes) {
    if (absl::Status rolled = RollSegment(); !rolled.ok() && active_) {
      ++sync_failures_;
      AbandonActiveSegment(rolled);
    }
  }
  if (active_) {
    char payload[8];
    Put64(payload, id);
    WriteRecord(kTypeAck, Signal::kTraces, 0, std::string_view(payload, 8)).IgnoreError();
  }
  MaybeDeleteSegment(seq);
}

absl::Status PersistentQueue::Replay(const ReplayFn& fn) {
  std::vector<std::pair<uint64_t, Location>> todo;
  std::map<uint64_t, std::string> paths;
  {
    MutexLock lock(&mu_);
    for (uint64_t id : replayable_) {
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;
      todo.emplace_back(id, it->second);
      paths[it->second.segment] = segments_[it->second.segment].path;
    }
    replayable_.clear();
  }
  std::map<uint64_t, std::unique_ptr<Fd>> files;
  for (const auto& [id, location] : todo) {
    auto& file = files[location.segment];
    if (!file) {
      int fd = ::open(paths[location.segment].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus("open", paths[location.segment]);
      file = std::make_unique<Fd>(fd);
    }
    std::string body(location.length, '\0');
    size_t got = 0;
    while (got < body.size()) {
      ssize_t r = ::pread(file->get(), body.data() + got, body.size() - got,
                          static_cast<off_t>(location.offset + static_cast<int64_t>(got)));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return ErrnoStatus("read", paths[location.segment]);
      got += static_cast<size_t>(r);
    }
    fn(id, location.signal, std::move(body));
  }
  return absl::OkStatus();
}

int64_t PersistentQueue::UsedBytes() const {
  MutexLock lock(&mu_);
  return used_bytes_;
}

bool PersistentQueue::Healthy() const {
  MutexLock lock(&mu_);
  return healthy_;
}

int64_t PersistentQueue::WriteFailures() const {
  MutexLock lock(&mu_);
  return write_failures_;
}

int64_t PersistentQueue::SyncFailures() const {
  MutexLock lock(&mu_);
  return sync_failures_;
}

int64_t PersistentQueue::CompactedBytes() const {
  MutexLock lock(&mu_);
  return compacted_bytes_;
}

int64_t PersistentQueue::PendingRecords() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(pending_.size());
}

}  // namespace gateway
