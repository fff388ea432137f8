// Names a thread for `top -H`, `ps -L` and `perf`, from the thread that
// started it, so that the name is set when the constructor returns:
//
//   thread_ = std::thread([this] { Run(); });
//   SetThreadName(thread_, "exporter");
//
// Linux keeps 15 bytes of a name; longer names are cut.
#pragma once

#include <string_view>
#include <thread>

namespace gateway {

void SetThreadName(std::thread& thread, std::string_view name);

}  // namespace gateway
