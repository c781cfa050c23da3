#pragma once
// What every connection of the registry shares, on its one I/O thread (no locks): the
// table of open connections, so a full house cuts an idle or not-yet-authenticated one
// rather than refusing a site's agent, and the budget of request bodies held in memory.
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <string>

#include "mrv/core/asio.hpp"

namespace mrv::registry {

using Clock = std::chrono::steady_clock;

// One open connection. `busy`: in an authenticated request (its body being read, handled
// or answered): never cut but at stop.
struct Connection {
  std::string peer;
  bool authenticated = false, busy = false, cut = false;
  Clock::time_point since = Clock::now();  // of the last change of state
  std::function<void()> cancel;            // aborts the connection's pending I/O
};

class ConnectionTable {
 public:
  explicit ConnectionTable(size_t max) : max_(max) {}
  using Handle = std::list<Connection>::iterator;

  // Room for one more: true at once, or after cutting the connection that waited longest
  // without being busy (one never authenticated first); false when all are busy.
  bool make_room();
  Handle add(std::string peer);
  void remove(Handle h);
  // At stop: cuts every connection not busy (`all`: every one).
  void cut(bool all);
  size_t size() const { return open_.size(); }

 private:
  size_t max_;
  std::list<Connection> open_;
};

// Bytes of request bodies held at once across connections. acquire() waits (up to a
// deadline) for room; release() wakes the waiters.
class BodyBudget {
 public:
  explicit BodyBudget(size_t capacity) : capacity_(capacity) {}
  boost::asio::awaitable<bool> acquire(size_t bytes, Clock::time_point deadline);
  void release(size_t bytes);
  size_t used() const { return used_; }

 private:
  size_t capacity_, used_ = 0;
  std::list<boost::asio::steady_timer*> waiters_;
};

}  // namespace mrv::registry
