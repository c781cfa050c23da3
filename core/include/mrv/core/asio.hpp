#pragma once
// Include Boost.Asio only through this header: on g++ 12, boost/asio/awaitable.hpp needs
// <utility> first (asio issue 944).
#include <utility>

#include <boost/asio.hpp>
