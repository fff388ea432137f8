#include "pipeline/base/thread_name.h"

#include <pthread.h>

#include <string>

namespace gateway {

void SetThreadName(std::thread& thread, std::string_view name) {
  // The kernel's limit: 16 bytes with the terminating NUL.
  const std::string cut(name.substr(0, 15));
  pthread_setname_np(thread.native_handle(), cut.c_str());
}

}  // namespace gateway
