#pragma once
// Blocking work of a session (registry writes, shared device streams) runs on the API's pool; the
// session's coroutine waits for it without holding the event loop.
#include "api.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <functional>
#include <memory>

namespace sluice::net {

namespace asio = boost::asio;

/// Runs `fn` on the API's blocking pool and resumes the awaiting coroutine on its own executor with
/// the result, or the exception `fn` threw.
template <class T>
asio::awaitable<T> off_loop(api& routes, std::function<T()> fn) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, T)>(
        [&routes](auto handler, std::function<T()> fn) {
            auto work = asio::make_work_guard(handler);  // the loop waits for us
            using state_type = std::pair<decltype(handler), decltype(work)>;
            auto state = std::make_shared<state_type>(std::move(handler), std::move(work));
            routes.offload([state, fn = std::move(fn)]() mutable {
                std::exception_ptr failure;
                T result{};
                try {
                    result = fn();
                } catch (...) {
                    failure = std::current_exception();
                }
                auto executor = state->second.get_executor();
                // The handler resumes the session's coroutine, on the session's executor; the
                // state and the exception move with it so that this thread keeps no part of them
                // (an exception released here could be destroyed while the session reads it).
                asio::post(executor, [state = std::move(state), failure = std::move(failure), result = std::move(result)]() mutable {
                    auto& handler = state->first;
                    std::move(handler)(failure, std::move(result));
                });
            });
        },
        asio::use_awaitable, std::move(fn));
}


}  // namespace sluice::net
