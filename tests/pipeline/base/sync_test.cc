#include "pipeline/base/sync.h"

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace gateway {
namespace {

// Await is woken by the other thread's unlock alone; no notify call exists.
TEST(MutexTest, AwaitSeesAChangeMadeUnderTheLockOnAnotherThread) {
  Mutex mu;
  int value = 0;
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) {
      MutexLock lock(&mu);
      ++value;
    }
  });
  {
    MutexLock lock(&mu);
    mu.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return value == 100; });
    EXPECT_EQ(value, 100);
  }
  writer.join();
}

TEST(MutexTest, AwaitWithTimeoutGivesUpAndReportsTheCondition) {
  Mutex mu;
  MutexLock lock(&mu);
  EXPECT_FALSE(mu.AwaitWithTimeout([] { return false; }, absl::Milliseconds(10)));
  EXPECT_TRUE(mu.AwaitWithTimeout([] { return true; }, absl::ZeroDuration()));
  EXPECT_FALSE(mu.AwaitWithTimeout([] { return false; }, -absl::Seconds(1)));
}

TEST(MutexTest, AwaitWithDeadlineReturnsOnceTheConditionHolds) {
  Mutex mu;
  bool ready = false;
  std::thread setter([&] {
    MutexLock lock(&mu);
    ready = true;
  });
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithDeadline([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ready; },
                                     absl::Now() + absl::Seconds(30)));
    EXPECT_FALSE(mu.AwaitWithDeadline([] { return false; }, absl::Now() - absl::Seconds(1)));
  }
  setter.join();
}

TEST(MutexTest, InfiniteTimeoutAndDeadlineWaitForTheCondition) {
  Mutex mu;
  int stage = 0;
  std::thread setter([&] {
    for (int i = 0; i < 2; ++i) {
      MutexLock lock(&mu);
      ++stage;
    }
  });
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stage >= 1; },
                                    absl::InfiniteDuration()));
    EXPECT_TRUE(mu.AwaitWithDeadline([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stage == 2; },
                                     absl::InfiniteFuture()));
  }
  setter.join();
}

// Under ThreadSanitizer this is the check that matters: the plain (unlocked)
// string written before Notify() must be seen as ordered before the read
// after the wait. With absl::Notification from Debian's uninstrumented Abseil
// TSan reported exactly this pattern as a race.
TEST(NotificationTest, PublishesWhatWasWrittenBeforeNotify) {
  Notification done;
  std::string payload;
  EXPECT_FALSE(done.HasBeenNotified());
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(1)));
  std::thread producer([&] {
    payload = "written before Notify";
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(payload, "written before Notify");
  EXPECT_TRUE(done.HasBeenNotified());
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::ZeroDuration()));
  producer.join();
}

TEST(NotificationTest, WaitWithTimeoutSeesANotifyFromAnotherThread) {
  Notification done;
  std::thread notifier([&] { done.Notify(); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  notifier.join();
}

}  // namespace
}  // namespace gateway
