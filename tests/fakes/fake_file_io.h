// A FileIo over the real system calls that injects failures and simulates a
// power loss, for tests of the persistent queue's durability.
//
//   testing::FakeFileIo io;
//   options.io = &io;
//   io.FailNextSyncs(1, EIO);        // the next fdatasync fails
//   io.FailWrites(ENOSPC);           // every write fails until ClearFaults()
//   io.LosePowerNow();               // files keep only what was synced
//
// Thread-safe.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>

#include "pipeline/base/sync.h"
#include "pipeline/export/file_io.h"

namespace gateway::testing {

class FakeFileIo final : public FileIo {
 public:
  ssize_t Write(int fd, const void* data, size_t size) override {
    MutexLock lock(&mu_);
    if (write_errno_ != 0) {
      errno = write_errno_;
      return -1;
    }
    synced_.try_emplace(PathOf(fd), SizeOf(fd));  // a new file: what it had is durable
    return ::write(fd, data, size);
  }

  int Fdatasync(int fd) override {
    MutexLock lock(&mu_);
    if (failed_fds_.count(fd) > 0) ++syncs_after_failure_;
    if (syncs_to_fail_ > 0) {
      --syncs_to_fail_;
      failed_fds_.insert(fd);
      errno = sync_errno_;
      return -1;
    }
    if (::fdatasync(fd) != 0) return -1;
    synced_[PathOf(fd)] = SizeOf(fd);
    return 0;
  }

  void FailNextSyncs(int count, int error) {
    MutexLock lock(&mu_);
    syncs_to_fail_ = count;
    sync_errno_ = error;
  }
  void FailWrites(int error) {
    MutexLock lock(&mu_);
    write_errno_ = error;
  }
  void ClearFaults() {
    MutexLock lock(&mu_);
    write_errno_ = 0;
    syncs_to_fail_ = 0;
  }

  // Cuts every file written through this FileIo back to its size at its last
  // successful fdatasync, as a power loss drops the page cache.
  void LosePowerNow() {
    MutexLock lock(&mu_);
    for (const auto& [path, size] : synced_) ::truncate(path.c_str(), static_cast<off_t>(size));
  }

  // fdatasync calls on a file descriptor whose fdatasync had failed before
  // (the pattern that can report success for lost pages).
  int SyncsAfterFailure() const {
    MutexLock lock(&mu_);
    return syncs_after_failure_;
  }

 private:
  static std::string PathOf(int fd) {
    char buf[4096];
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  static size_t SizeOf(int fd) {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
  }

  mutable Mutex mu_;
  int write_errno_ ABSL_GUARDED_BY(mu_) = 0;
  int syncs_to_fail_ ABSL_GUARDED_BY(mu_) = 0;
  int sync_errno_ ABSL_GUARDED_BY(mu_) = EIO;
  int syncs_after_failure_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> failed_fds_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, size_t> synced_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gateway::testing
