#include "pipeline/reparent/fate_table.h"

#include <algorithm>
#include <utility>

namespace gateway {

void FateTable::Insert(uint64_t fingerprint, bool moved) {
  const uint64_t key = Stored(fingerprint);
  for (size_t i = Home(fingerprint);; i = (i + 1) & mask_) {
    uint64_t& slot = slots_[i];
    if (slot == 0) {
      slot = key | (moved ? 1 : 0);
      ++size_;
      return;
    }
    if ((slot & ~uint64_t{1}) == key) {
      if (moved) slot |= 1;
      return;
    }
  }
}

FateTable::Found FateTable::Find(uint64_t fingerprint) const {
  if (size_ == 0) return kAbsent;
  const uint64_t key = Stored(fingerprint);
  // At most half full, so the probe ends at an empty slot.
  for (size_t i = Home(fingerprint);; i = (i + 1) & mask_) {
    const uint64_t slot = slots_[i];
    if (slot == 0) return kAbsent;
    if ((slot & ~uint64_t{1}) == key) return (slot & 1) != 0 ? kMoved : kUnchanged;
  }
}

void FateTable::Grow(size_t capacity) {
  std::vector<uint64_t> old = std::move(slots_);
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (uint64_t slot : old) {
    if (slot == 0) continue;
    // Stored values keep the fingerprint's bits 1..63, which is all Home uses.
    for (size_t i = Home(slot);; i = (i + 1) & mask_) {
      if (slots_[i] == 0) {
        slots_[i] = slot;
        break;
      }
    }
  }
}

void FateTable::Clear() {
  std::vector<uint64_t>().swap(slots_);
  mask_ = 0;
  size_ = 0;
}

void FateTable::Empty() {
  std::fill(slots_.begin(), slots_.end(), 0);
  size_ = 0;
}

void MovedTable::InsertOrAssign(const FateKey& key, uint64_t fingerprint, const TraceId& new_trace) {
  for (size_t i = Home(fingerprint);; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.key.span == 0) {
      slot.key = key;
      slot.new_trace = new_trace;
      ++size_;
      return;
    }
    if (slot.key == key) {
      slot.new_trace = new_trace;
      return;
    }
  }
}

const TraceId* MovedTable::Find(const FateKey& key, uint64_t fingerprint) const {
  if (size_ == 0) return nullptr;
  for (size_t i = Home(fingerprint);; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.key.span == 0) return nullptr;
    if (slot.key == key) return &slot.new_trace;
  }
}

void MovedTable::Grow(size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot());
  mask_ = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.key.span == 0) continue;
    for (size_t i = Home(FateFingerprint(slot.key));; i = (i + 1) & mask_) {
      if (slots_[i].key.span == 0) {
        slots_[i] = slot;
        break;
      }
    }
  }
}

void MovedTable::Clear() {
  std::vector<Slot>().swap(slots_);
  mask_ = 0;
  size_ = 0;
}

void MovedTable::Empty() {
  std::fill(slots_.begin(), slots_.end(), Slot());
  size_ = 0;
}

}  // namespace gateway
