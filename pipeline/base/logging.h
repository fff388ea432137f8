// Structured logs: one JSON object per line on stderr.
//
//   LogInfo("export_failed", {{"signal", "traces"}, {"status", "503"}});
//   // {"ts":"2026-11-29T12:00:00.123Z","level":"info","msg":"export_failed","signal":"traces","status":"503"}
//
// Thread-safe. Never pass secrets (API tokens) as fields.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gateway {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogField = std::pair<std::string_view, std::string>;

// Messages below `level` are discarded. Default kInfo.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// "debug", "info", "warn" or "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
// The name ParseLogLevel takes.
std::string_view LogLevelName(LogLevel level);

// Where log lines go; stderr by default. For tests. Not thread-safe against
// concurrent logging: set it before starting threads.
using LogSinkFn = void (*)(std::string_view line);
void SetLogSink(LogSinkFn sink);

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

inline void LogDebug(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kDebug, msg, fields);
}
inline void LogInfo(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, msg, fields);
}
inline void LogWarn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarn, msg, fields);
}
inline void LogError(std::string_view msg, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, msg, fields);
}

// Lets through at most `per_second` log lines a wall-clock second, across
// all threads, and counts the ones it held back:
//
//   LogRateLimiter limiter(10);
//   if (int64_t suppressed = 0; limiter.Allow(&suppressed)) {
//     LogWarn("request_rejected", {..., {"suppressed", absl::StrCat(suppressed)}});
//   }
//
// Thread-safe, lock-free.
class LogRateLimiter final {
 public:
  explicit LogRateLimiter(int per_second) : per_second_(per_second) {}

  // True if a line may be written now; then *suppressed is how many were
  // held back since the last line let through.
  bool Allow(int64_t* suppressed);

 private:
  const int per_second_;
  std::atomic<int64_t> window_start_sec_{0};
  std::atomic<int> in_window_{0};
  std::atomic<int64_t> suppressed_{0};
};

// JSON string escaping, for anything else that writes JSON by hand.
std::string JsonEscape(std::string_view text);

}  // namespace gateway
