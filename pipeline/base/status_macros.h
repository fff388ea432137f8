// Early-return helpers for absl::Status and absl::StatusOr<T>.
//
//   absl::StatusOr<Config> Load(std::string_view path) {
//     GATEWAY_RETURN_IF_ERROR(CheckReadable(path));
//     GATEWAY_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//     return Parse(text);
//   }
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GATEWAY_STATUS_CONCAT_INNER_(a, b) a##b
#define GATEWAY_STATUS_CONCAT_(a, b) GATEWAY_STATUS_CONCAT_INNER_(a, b)

#define GATEWAY_RETURN_IF_ERROR(expr)                \
  do {                                               \
    ::absl::Status gateway_status_ = (expr);         \
    if (!gateway_status_.ok()) return gateway_status_; \
  } while (false)

#define GATEWAY_ASSIGN_OR_RETURN(lhs, expr) \
  GATEWAY_ASSIGN_OR_RETURN_IMPL_(GATEWAY_STATUS_CONCAT_(gateway_statusor_, __LINE__), lhs, expr)

#define GATEWAY_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = *std::move(statusor)
