#include "gateway/receivers/room_wait_queue.h"

#include <chrono>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "gtest/gtest.h"

namespace gateway {
namespace {

using Clock = std::chrono::steady_clock;

// The io_context runs on the test's thread: each RunOnePoll is one timer
// expiry, so what a poll resumes is exact.
class RoomWaitQueueTest : public ::testing::Test {
 protected:
  RoomWaitQueueTest() : queue_(ioc_, {std::chrono::milliseconds(1), 3}) {}

  bool HasRoom() {
    ++room_checks_;
    if (room_budget_ <= 0) return false;
    --room_budget_;
    return true;
  }
  // `id` waiting until `until`; its outcome lands in resumed_.
  void Add(int id, Clock::time_point until) {
    queue_.Add(until, [this] { return HasRoom(); }, [this, id](bool room) { resumed_.emplace_back(id, room); });
  }
  void RunOnePoll() {
    ioc_.restart();
    ASSERT_EQ(ioc_.run_one_for(std::chrono::seconds(10)), 1u);
  }

  boost::asio::io_context ioc_{1};
  int room_budget_ = 0;  // how many more HasRoom calls say yes
  int room_checks_ = 0;
  std::vector<std::pair<int, bool>> resumed_;
  RoomWaitQueue queue_;
};

TEST_F(RoomWaitQueueTest, NothingResumesInsideAdd) {
  room_budget_ = 10;
  Add(1, Clock::now() + std::chrono::seconds(60));
  EXPECT_TRUE(resumed_.empty());
  EXPECT_EQ(room_checks_, 0);
  EXPECT_EQ(queue_.size(), 1u);
}

TEST_F(RoomWaitQueueTest, WaitsWhileThereIsNoRoomThenResumesOldestFirst) {
  const auto later = Clock::now() + std::chrono::seconds(60);
  Add(1, later);
  Add(2, later);
  RunOnePoll();
  RunOnePoll();
  EXPECT_TRUE(resumed_.empty());
  EXPECT_EQ(queue_.size(), 2u);

  room_budget_ = 1;
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_EQ(resumed_[0], std::make_pair(1, true));
  room_budget_ = 1;
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 2u);
  EXPECT_EQ(resumed_[1], std::make_pair(2, true));
  EXPECT_EQ(queue_.size(), 0u);
}

TEST_F(RoomWaitQueueTest, OnlyTheHeadIsAskedForRoom) {
  const auto later = Clock::now() + std::chrono::seconds(60);
  int head_asked = 0;
  queue_.Add(later, [&head_asked] { return ++head_asked > 1; }, [this](bool room) { resumed_.emplace_back(1, room); });
  Add(2, later);
  room_budget_ = 100;  // the second would go on, but waits behind the first
  RunOnePoll();
  EXPECT_TRUE(resumed_.empty());
  EXPECT_EQ(room_checks_, 0);
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 2u);
  EXPECT_EQ(resumed_[0], std::make_pair(1, true));
  EXPECT_EQ(resumed_[1], std::make_pair(2, true));
}

TEST_F(RoomWaitQueueTest, ResumesAtMostTheCapPerPoll) {
  const auto later = Clock::now() + std::chrono::seconds(60);
  for (int id = 1; id <= 5; ++id) Add(id, later);
  room_budget_ = 100;
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 3u);  // the cap
  EXPECT_EQ(resumed_[2].first, 3);
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 5u);
  EXPECT_EQ(resumed_[4], std::make_pair(5, true));
}

TEST_F(RoomWaitQueueTest, ThoseWhoseTimeIsUpGoOnWithoutRoom) {
  Add(1, Clock::now() + std::chrono::seconds(60));
  Add(2, Clock::now() - std::chrono::milliseconds(1));
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 1u);
  EXPECT_EQ(resumed_[0], std::make_pair(2, false));
  EXPECT_EQ(queue_.size(), 1u);
}

TEST_F(RoomWaitQueueTest, ResumeAllLetsEveryoneGoOnAtOnce) {
  const auto later = Clock::now() + std::chrono::seconds(60);
  Add(1, later);
  Add(2, later);
  queue_.ResumeAll();
  ASSERT_EQ(resumed_.size(), 2u);
  EXPECT_EQ(resumed_[0], std::make_pair(1, false));
  EXPECT_EQ(resumed_[1], std::make_pair(2, false));
  EXPECT_EQ(queue_.size(), 0u);
}

TEST_F(RoomWaitQueueTest, ARequestAddedByAResumeQueuesBehindTheOthers) {
  const auto later = Clock::now() + std::chrono::seconds(60);
  queue_.Add(later, [this] { return HasRoom(); }, [this, later](bool room) {
    resumed_.emplace_back(1, room);
    Add(3, later);  // the connection's next request, also without room
  });
  Add(2, later);
  room_budget_ = 100;
  RunOnePoll();
  ASSERT_EQ(resumed_.size(), 3u);
  EXPECT_EQ(resumed_[0].first, 1);
  EXPECT_EQ(resumed_[1].first, 2);
  EXPECT_EQ(resumed_[2], std::make_pair(3, true));
}

}  // namespace
}  // namespace gateway
