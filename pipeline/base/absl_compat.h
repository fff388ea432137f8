// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW=0
// (and likewise for optional, variant, any): absl::string_view is its own
// type and absl::StrCat & co. do not take std::string_view. Our interfaces
// use std::string_view; convert at calls into Abseil:
//
//   absl::StrCat("id=", ToAbsl(view));
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace gateway {

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace gateway
