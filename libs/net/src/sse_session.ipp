#include "sse_session.hpp"

#include "http_session.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>

#include <array>

namespace sluice::net {

namespace bj = boost::json;

sse_session::sse_session(std::shared_ptr<server::impl> server, beast::tcp_stream stream)
    : device_stream(std::move(server), stream.get_executor()), stream_(std::move(stream)), keepalive_(stream_.get_executor()) {}

asio::awaitable<void> sse_session::run(const request_message& request, auth::claims who, std::optional<std::uint64_t> resume_from) {
    auto self = shared_from_this();
    http::response<http::empty_body> res{http::status::ok, request.version()};
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.set(http::field::server, "sluice");
    allow_origin(server_->cors, request, res);
    http::response_serializer<http::empty_body> serializer{res};
    stream_.expires_never();
    auto [ec, n] = co_await http::async_write_header(stream_, serializer, use_tuple);
    if (ec) co_return;
    opened();
    pipeline::device_hub::attach_result attached;
    try {
        auto joining = join(who, resume_from);
        attached = co_await std::move(joining);
    } catch (const std::exception& e) {
        // The device streams cannot be reached: the client reconnects (EventSource does).
        spdlog::warn("sse: device {} cannot join its stream: {}", who.device, e.what());
        finished();
        co_return;
    }
    bj::object hello{{"success", true}, {"device", device_}, {"seq", attached.seq}};
    enqueue({"event: register\ndata: ", std::make_shared<const std::string>(bj::serialize(hello)), "\n\n"});
    if (attached.resync_required) {
        bj::object resync{{"seq", attached.seq}, {"resume_from", *resume_from}};
        enqueue({"event: resync_required\ndata: ", std::make_shared<const std::string>(bj::serialize(resync)), "\n\n"});
    }
    for (auto& [seq, head] : attached.replay) enqueue(delivery(std::move(head), seq));
    release_deliveries();
    keepalive();
    // The client sends nothing; a read completes when it goes away.
    char byte;
    while (!closing_) {
        auto [read_ec, got] = co_await stream_.socket().async_read_some(asio::buffer(&byte, 1), use_tuple);
        if (read_ec) break;
    }
    keepalive_.cancel();
    finished();
}

device_stream::item sse_session::delivery(pipeline::frame_head head, std::uint64_t seq) {
    // The head is `{"event":"NAME",...`: the SSE event name is read off it.
    constexpr std::string_view prefix = "{\"event\":\"";
    auto end = head->find('"', prefix.size());
    std::string name = head->substr(prefix.size(), end - prefix.size());
    auto id = std::to_string(seq);
    return {"id: " + id + "\nevent: " + name + "\ndata: ", std::move(head), id + "}\n\n"};
}

tcp::socket& sse_session::socket() { return stream_.socket(); }

void sse_session::write(const item& it, std::function<void(error_code)> done) {
    std::array<asio::const_buffer, 3> buffers{asio::buffer(it.before), asio::buffer(*it.shared), asio::buffer(it.after)};
    asio::async_write(stream_.socket(), buffers, [done = std::move(done)](error_code ec, std::size_t) { done(ec); });
}

void sse_session::on_close(std::uint16_t, const std::string&) {
    keepalive_.cancel();
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

void sse_session::keepalive() {
    keepalive_.expires_after(std::chrono::seconds(15));
    keepalive_.async_wait([self = shared_from_this(), this](error_code ec) {
        if (ec || closing_) return;
        static const auto comment = std::make_shared<const std::string>(": keepalive\n\n");
        enqueue({{}, comment, {}});
        keepalive();
    });
}

}  // namespace sluice::net
