// Structured logs: one JSON object per line on stderr.
//
//   LogInfo("export_failed", {{"signal", "traces"}, {"status", "503"}});
//   // {"ts":"2026-11-29T12:00:00.123Z","level":"info","msg":"export_failed","signal":"traces","status":"503"}
//
// Thread-safe. Never pass secrets (API tokens) as fields.
#pragma once

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

// JSON string escaping, for anything else that writes JSON by hand.
std::string JsonEscape(std::string_view text);

}  // namespace gateway
