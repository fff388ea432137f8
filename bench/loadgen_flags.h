// Lets the bench tools take flags spelled like the gateway's
// (--grpc-port=0) as well as Abseil's (--grpc_port=0).
//
//   std::vector<char*> args = loadgen::NormalizeFlagNames(argc, argv, &storage);
//   absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
#pragma once

#include <string>
#include <vector>

namespace loadgen {

// Rewrites '-' to '_' in the name part of every "--name[=value]" argument.
// `storage` owns the rewritten strings; the result points into it and argv.
inline std::vector<char*> NormalizeFlagNames(int argc, char** argv, std::vector<std::string>* storage) {
  storage->clear();
  storage->reserve(static_cast<size_t>(argc));
  std::vector<char*> out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      const size_t end = arg.find('=');
      for (size_t j = 2; j < arg.size() && j < end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
    storage->push_back(std::move(arg));
  }
  for (auto& s : *storage) out.push_back(s.data());
  return out;
}

}  // namespace loadgen
