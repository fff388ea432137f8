// The two system calls whose failures decide what the persistent queue may
// acknowledge, behind a seam: tests inject EIO and ENOSPC and simulate a
// power loss that drops what was written but not synced.
//
//   PersistentQueueOptions options;
//   options.io = &my_faulty_io;  // default: PosixFileIo()
//
// Implementations are called from any thread, concurrently.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace gateway {

class FileIo {
 public:
  virtual ~FileIo() = default;
  // As write(2): bytes written, or -1 with errno set.
  virtual ssize_t Write(int fd, const void* data, size_t size) = 0;
  // As fdatasync(2): 0, or -1 with errno set.
  virtual int Fdatasync(int fd) = 0;
};

// write(2) and fdatasync(2). Lives for the process.
FileIo& PosixFileIo();

}  // namespace gateway
