#include "periodic.hpp"

#include <exception>

#include "mrv/core/log.hpp"

namespace mrv::registry {

Periodic::Periodic(std::chrono::milliseconds interval, std::function<void()> task)
    : thread_([this, interval, task = std::move(task)] {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
          lock.unlock();
          try {
            task();
          } catch (const std::exception& e) {  // an escape would end the whole process
            log::error(std::string("registry: a periodic task failed: ") + e.what());
          }
          lock.lock();
        }
      }) {}

Periodic::~Periodic() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace mrv::registry
