#include "pipeline/export/persistent_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "pipeline/base/status_macros.h"

namespace gateway {
namespace {

constexpr uint32_t kMagic = 0x51574c47;  // "GLWQ" little-endian
constexpr size_t kHeaderBytes = 24;
constexpr uint8_t kTypeData = 1;
constexpr uint8_t kTypeAck = 2;
constexpr uint32_t kMaxPayload = 1u << 30;
constexpr std::string_view kPrefix = "segment-";
constexpr std::string_view kSuffix = ".wal";

void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t RecordCrc(const char* header, std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header + 4), 4);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(header + 12), kHeaderBytes - 12);
  // zlib takes uInt lengths; payloads are < 1 GiB.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("write: ", std::strerror(errno)));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

// A parsed record at `pos` of `data`, or false if none is valid there.
struct Parsed {
  uint8_t type = 0;
  Signal signal = Signal::kTraces;
  uint64_t id = 0;
  std::string_view payload;
  size_t size = 0;
};

bool ParseRecord(std::string_view data, size_t pos, Parsed* out) {
  if (data.size() - pos < kHeaderBytes) return false;
  const char* h = data.data() + pos;
  if (Get32(h) != kMagic) return false;
  const uint32_t length = Get32(h + 4);
  if (length > kMaxPayload || length > data.size() - pos - kHeaderBytes) return false;
  std::string_view payload(h + kHeaderBytes, length);
  if (Get32(h + 8) != RecordCrc(h, payload)) return false;
  const uint8_t type = static_cast<uint8_t>(h[12]);
  const uint8_t signal = static_cast<uint8_t>(h[13]);
  if ((type != kTypeData && type != kTypeAck) || signal >= kSignalCount) return false;
  if (type == kTypeAck && length % 8 != 0) return false;
  out->type = type;
  out->signal = static_cast<Signal>(signal);
  out->id = Get64(h + 16);
  out->payload = payload;
  out->size = kHeaderBytes + length;
  return true;
}

std::string SegmentPath(const std::string& dir, uint64_t seq) {
  std::string number = absl::StrCat(seq);
  if (number.size() < 12) number.insert(0, 12 - number.size(), '0');
  return absl::StrCat(dir, "/", std::string(kPrefix), number, std::string(kSuffix));
}

}  // namespace

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
    : dir_(std::move(dir)), max_bytes_(max_bytes), options_(options) {}

PersistentQueue::~PersistentQueue() {
  MutexLock lock(&mu_);
  if (active_ && options_.sync) ::fdatasync(active_->get());
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
    segments_[it->second.segment].live--;
    pending_.erase(it);
  }
  for (const auto& [id, location] : pending_) replayable_.insert(id);
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
  size_t pos = 0;
  while (pos < data.size()) {
    Parsed rec;
    if (!ParseRecord(data, pos, &rec)) {
      // Resynchronize on the next valid record; none means a torn tail.
      size_t next = pos + 1;
      bool found = false;
      for (; next + kHeaderBytes <= data.size(); ++next) {
        if (Get32(data.data() + next) == kMagic && ParseRecord(data, next, &rec)) {
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
      pending_[rec.id] = Location{seq, static_cast<int64_t>(pos + kHeaderBytes),
                                 static_cast<uint32_t>(rec.payload.size()), rec.signal};
      segment.live++;
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
  if (active_ && options_.sync && ::fdatasync(active_->get()) != 0) {
    return ErrnoStatus("fdatasync", segments_[active_seq_].path);
  }
  const uint64_t seq = active_seq_ + 1;
  const std::string path = SegmentPath(dir_, seq);
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", path);
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
  segments_[seq] = Segment{path, 0, 0};
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
  Put32(header + 8, RecordCrc(header, payload));
  absl::Status s = WriteAll(active_->get(), header, kHeaderBytes);
  if (s.ok()) s = WriteAll(active_->get(), payload.data(), payload.size());
  if (!s.ok()) {
    // Drop the partial record so later ones follow valid data.
    if (::ftruncate(active_->get(), static_cast<off_t>(segment.bytes)) != 0) {
      return absl::InternalError(absl::StrCat(s.message(), "; truncate failed too"));
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

absl::StatusOr<uint64_t> PersistentQueue::Append(Signal signal, std::string_view request) {
  if (request.size() > kMaxPayload) return absl::InvalidArgumentError("request too large for the queue");
  const int64_t size = static_cast<int64_t>(kHeaderBytes + request.size());
  uint64_t id;
  uint64_t my_seq;
  {
    MutexLock lock(&mu_);
    if (used_bytes_ + size > max_bytes_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("persistent queue full (", used_bytes_, " of ", max_bytes_, " bytes)"));
    }
    if (segments_[active_seq_].bytes >= options_.segment_bytes) GATEWAY_RETURN_IF_ERROR(RollSegment());
    const int64_t offset = segments_[active_seq_].bytes;
    id = next_id_;
    GATEWAY_RETURN_IF_ERROR(WriteRecord(kTypeData, signal, id, request));
    ++next_id_;
    pending_[id] = Location{active_seq_, offset + static_cast<int64_t>(kHeaderBytes),
                            static_cast<uint32_t>(request.size()), signal};
    segments_[active_seq_].live++;
    my_seq = ++written_seq_;
  }
  if (!options_.sync) return id;
  MutexLock sync_lock(&sync_mu_);
  if (synced_seq_ >= my_seq) return id;  // another Append's fdatasync covered it
  std::shared_ptr<Fd> fd;
  uint64_t target;
  {
    MutexLock lock(&mu_);
    fd = active_;
    target = written_seq_;
  }
  // Records written before a roll were synced by RollSegment.
  if (::fdatasync(fd->get()) != 0) {
    absl::Status s = ErrnoStatus("fdatasync", dir_);
    Ack(id);
    return s;
  }
  synced_seq_ = target;
  return id;
}

void PersistentQueue::Ack(uint64_t id) {
  MutexLock lock(&mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  const uint64_t seq = it->second.segment;
  pending_.erase(it);
  replayable_.erase(id);
  segments_[seq].live--;
  // Acks may go over max_bytes slightly: they are what frees space.
  if (segments_[active_seq_].bytes >= options_.segment_bytes) RollSegment().IgnoreError();
  char payload[8];
  Put64(payload, id);
  // A lost ack only means the request is replayed again after a restart.
  WriteRecord(kTypeAck, Signal::kTraces, 0, std::string_view(payload, 8)).IgnoreError();
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

int64_t PersistentQueue::PendingRecords() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(pending_.size());
}

}  // namespace gateway
