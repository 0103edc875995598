#pragma once
// The HTTP routes and the operations WebSocket messages share, free of Beast so that this logic
// compiles quickly and the transport TU stays small.
#include <sluice/core/error.hpp>
#include <sluice/net/context.hpp>

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <memory>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

namespace sluice::net {

struct http_request {
    std::string method;
    std::string target;         ///< path and query
    std::string authorization;  ///< the Authorization header
    std::string body;
};

struct http_response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
};

/// The live page (`GET /ui`), self-contained: no CDN, no build step.
std::string_view ui_page();

/// Throws with a code that maps to an HTTP status (see `status_of`).
///
/// The event loop never waits for SQLite: `handle` checks the route and the token where it is
/// called, and runs whatever reads or writes the store or the registry on a small pool of threads
/// the API owns (document writes, which check the stored document before they are queued, one at a
/// time, in arrival order). `subscribe` and `unsubscribe` block: call them through `offload`.
class api {
public:
    /// Runs a function after a delay (on the server's event loop): bounds `?wait=1`. Callable from
    /// any thread.
    using scheduler = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

    /// Threads of the blocking pool: store reads and registry writes each hold one lock, so more
    /// threads would mostly wait; four let reads go on while registry writes wait for a busy file.
    static constexpr std::size_t blocking_threads = 4;

    api(context& ctx, scheduler schedule);
    ~api();

    /// Answers through `respond`, at once or later from another thread (the blocking pool,
    /// `?wait=1`).
    void handle(http_request request, std::function<void(http_response)> respond);

    /// Runs `work` on the blocking pool; after `stop`, at once on the calling thread. `work` must
    /// not throw.
    void offload(std::function<void()> work);
    /// Runs the work handed to the pool so far and joins its threads; later `offload`s run inline.
    /// Idempotent.
    void stop();

    auth::claims authenticate(std::string_view token) const;
    /// `{model, id?, user?, filter?}` → `{channel, items}`; subscribes the claims' device.
    boost::json::object subscribe(const auth::claims& who, const boost::json::value& request);
    /// Removes the device's subscription; false when it had none on `channel`.
    bool unsubscribe(const auth::claims& who, const std::string& channel);

    static unsigned status_of(errc code);
    static http_response error_response(errc code, const std::string& message);

    /// `GET /ui/state`: the stage graph with each stage's queue and counters, the transports'
    /// connections, the recent deliveries (newest first). Blocks (queue statistics).
    boost::json::object ui_state();

private:
    http_response health();
    http_response logout(const http_request& request);
    /// 422 when the document sets a field Sluice maintains (`store::system_fields`).
    static void refuse_system_fields(const boost::json::object& document);
    /// 422 `schema_violation` when the model has a schema and the client's `fields` break it.
    void check_schema(const std::string& app, const std::string& model, const std::string& id,
                      const boost::json::object& fields) const;
    void create(const std::string& app, const std::string& model, const auth::claims& who, const http_request& request,
                bool wait, const std::function<void(http_response)>& respond);
    http_response query(const std::string& app, const std::string& model, const auth::claims& who,
                        const http_request& request);
    /// Runs the before-hooks of a write (`point`) on its request; the request with the body they
    /// made (a create's id fixed now, so that they see it). Throws what they throw.
    std::shared_ptr<const http_request> before_write(std::string_view point, const std::string& app, const std::string& model,
                                                     const std::string* id, const auth::claims& who, const http_request& request);
    /// GET, PUT, PATCH or DELETE of one document.
    void document(const std::string& app, const std::string& model, const std::string& id, const auth::claims& who,
                  const http_request& request, bool wait, const std::function<void(http_response)>& respond);
    void submit(store::write_request change, bool wait, unsigned wait_status, std::function<void(http_response)> respond);
    /// `?wait=1` with the writer in another process: completes the waiter of `op` from the store's
    /// record of it, polling until `deadline`.
    void poll_recorded(std::string op, std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds delay);
    /// Runs `route` (which answers through `respond`, or throws) on `executor` (the pool, or the
    /// strand of document writes), answering what it throws.
    template <class Executor>
    void off_loop(const Executor& executor, std::shared_ptr<const http_request> request,
                  std::function<void(http_response)> respond, std::function<void()> route);

    context& ctx_;
    scheduler schedule_;
    std::mutex pool_mutex_;
    bool stopped_ = false;  ///< guarded by pool_mutex_
    boost::asio::thread_pool pool_;
    boost::asio::strand<boost::asio::thread_pool::executor_type> writes_;
};

}  // namespace sluice::net
