#include "pipeline/reparent/fate_memory.h"

#include <algorithm>
#include <utility>

namespace gateway {

uint64_t HashBytes(std::initializer_list<std::string_view> parts) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (std::string_view part : parts) {
    for (char ch : part) {
      h ^= static_cast<uint8_t>(ch);
      h *= 0x100000001b3ULL;
    }
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

FateMemory::FateMemory(absl::Duration resolved_ttl, int64_t max_resolved_spans, int64_t max_table_bytes)
    : resolved_ttl_(resolved_ttl), max_resolved_spans_(max_resolved_spans), max_table_bytes_(max_table_bytes) {}

bool FateMemory::Find(const FateKey& key, uint64_t fingerprint, Fate* fate) const {
  const int older = 1 - current_;
  const FateTable::Found in_current = fates_[current_].Find(fingerprint);
  // A moved fate in either generation wins over an unchanged one; the older
  // generation can only add one when it has moved fates at all.
  FateTable::Found in_older = FateTable::kAbsent;
  if (in_current == FateTable::kAbsent || (in_current == FateTable::kUnchanged && !moved_[older].empty())) {
    in_older = fates_[older].Find(fingerprint);
  }
  if (in_current == FateTable::kMoved || in_older == FateTable::kMoved) {
    for (int g : {current_, older}) {
      if (moved_[g].empty()) continue;
      if (const TraceId* new_trace = moved_[g].Find(key, fingerprint); new_trace != nullptr) {
        *fate = Fate{*new_trace, true};
        return true;
      }
    }
  }
  if (in_current == FateTable::kAbsent && in_older == FateTable::kAbsent) return false;
  *fate = Fate{TraceId(), false};
  return true;
}

void FateMemory::RecordRoutes(const FateKey& batch, std::vector<MessageRoute> routes, absl::Time now) {
  if (generation_start_ == absl::InfinitePast()) generation_start_ = now;
  if (max_resolved_spans_ <= 0) return;
  routes_[current_].insert_or_assign(batch, std::move(routes));
}

const std::vector<MessageRoute>* FateMemory::FindRoutes(const FateKey& batch) const {
  for (int g : {current_, 1 - current_}) {
    if (routes_[g].empty()) continue;
    auto it = routes_[g].find(batch);
    if (it != routes_[g].end()) return &it->second;
  }
  return nullptr;
}

bool FateMemory::MakeRoomSlow(bool moved, absl::Time now) {
  const int64_t generation_bound = max_table_bytes_ > 0 ? max_table_bytes_ / 2 : -1;
  for (int attempt = 0; attempt < 2; ++attempt) {
    FateTable& fates = fates_[current_];
    MovedTable& moved_table = moved_[current_];
    const bool grow_fates = fates.Full();
    const bool grow_moved = moved && moved_table.Full();
    size_t fate_capacity = !grow_fates ? 0 : fates.capacity() == 0 ? FateTable::kInitialCapacity : 2 * fates.capacity();
    size_t moved_capacity =
        !grow_moved ? 0 : moved_table.capacity() == 0 ? MovedTable::kInitialCapacity : 2 * moved_table.capacity();
    // The generation's bytes while the growing tables copy: every slot it
    // has now plus the new ones.
    auto peak = [&] {
      return GenerationBytes(current_) + static_cast<int64_t>(fate_capacity * FateTable::kSlotBytes +
                                                              moved_capacity * MovedTable::kSlotBytes);
    };
    if (generation_bound >= 0) {
      // A table that starts out (after a rotation) starts smaller under a
      // tight bound; the bigger new table halves first, down to 2 slots
      // (one entry at half full).
      while (peak() > generation_bound) {
        const bool fates_shrink = fates.capacity() == 0 && fate_capacity > 2;
        const bool moved_shrinks = moved_table.capacity() == 0 && moved_capacity > 2;
        if (moved_shrinks && (!fates_shrink || moved_capacity * MovedTable::kSlotBytes >=
                                                   fate_capacity * FateTable::kSlotBytes)) {
          moved_capacity /= 2;
        } else if (fates_shrink) {
          fate_capacity /= 2;
        } else {
          break;
        }
      }
      if (peak() > generation_bound) {
        // The current generation is full by bytes: it becomes the older one.
        // Once is enough: an empty generation that cannot take the fate never
        // will.
        if (GenerationBytes(current_) == 0) return false;
        Rotate(now);
        continue;
      }
    }
    peak_table_bytes_ = std::max(peak_table_bytes_, peak() + GenerationBytes(1 - current_));
    if (grow_fates) fates.Grow(fate_capacity);
    if (grow_moved) moved_table.Grow(moved_capacity);
    return true;
  }
  return false;
}

void FateMemory::Rotate(absl::Time now) {
  current_ = 1 - current_;
  // The generation forgotten now was as busy as the next one is likely to
  // be: a table it filled to a quarter or more of its slots is kept, zeroed,
  // instead of being freed and grown again from its initial size by
  // doubling (a rehash of every entry at each step, and fresh pages). One it
  // hardly used (rotated by time after traffic fell) gives its memory back.
  auto forget = [](auto& table) {
    if (4 * table.size() >= table.capacity()) {
      table.Empty();
    } else {
      table.Clear();
    }
  };
  forget(moved_[current_]);
  forget(fates_[current_]);
  routes_[current_].clear();
  if (moved_filter_ != nullptr) moved_filter_->Rotate();
  generation_start_ = now;
}

void FateMemory::Expire(absl::Time now) {
  const absl::Duration half = resolved_ttl_ / 2;
  if (generation_start_ == absl::InfinitePast()) {
    generation_start_ = now;
    return;
  }
  if (now - generation_start_ >= resolved_ttl_) {
    // Both generations are older than the TTL.
    for (int g : {0, 1}) {
      moved_[g].Clear();
      fates_[g].Clear();
      routes_[g].clear();
    }
    if (moved_filter_ != nullptr) moved_filter_->Clear();
    generation_start_ = now;
  } else if (now - generation_start_ >= half) {
    Rotate(now);
  }
}

}  // namespace gateway
