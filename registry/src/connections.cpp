#include "connections.hpp"

#include <algorithm>

namespace mrv::registry {

namespace asio = boost::asio;

bool ConnectionTable::make_room() {
  if (open_.size() < max_) return true;
  auto victim = open_.end();
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->busy || it->cut) continue;
    if (victim == open_.end() || std::tie(it->authenticated, it->since) < std::tie(victim->authenticated, victim->since))
      victim = it;
  }
  if (victim == open_.end()) return false;
  victim->cut = true;
  if (victim->cancel) victim->cancel();
  return true;  // it leaves the table when its coroutine ends
}

ConnectionTable::Handle ConnectionTable::add(std::string peer) {
  Connection c;
  c.peer = std::move(peer);
  open_.push_back(std::move(c));
  return std::prev(open_.end());
}

void ConnectionTable::remove(Handle h) { open_.erase(h); }

void ConnectionTable::cut(bool all) {
  for (Connection& c : open_)
    if ((all || !c.busy) && !c.cut) {
      c.cut = true;
      if (c.cancel) c.cancel();
    }
}

asio::awaitable<bool> BodyBudget::acquire(size_t bytes, Clock::time_point deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Listed while this coroutine lives, so release() never wakes a destroyed timer.
  struct Listed {
    std::list<asio::steady_timer*>& list;
    std::list<asio::steady_timer*>::iterator it;
    ~Listed() { list.erase(it); }
  } listed{waiters_, waiters_.insert(waiters_.end(), &timer)};
  while (used_ + bytes > capacity_) {
    if (Clock::now() >= deadline) co_return false;
    timer.expires_at(deadline);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  used_ += bytes;
  co_return true;
}

void BodyBudget::release(size_t bytes) {
  used_ -= std::min(used_, bytes);
  for (asio::steady_timer* t : waiters_) t->cancel();
}

}  // namespace mrv::registry
