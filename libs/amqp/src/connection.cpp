#include "connection.hpp"

#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <sluice/core/error.hpp>

namespace sluice::amqp::detail {

namespace {

std::string to_string(amqp_bytes_t b) {
    return b.len ? std::string(static_cast<const char*>(b.bytes), b.len) : std::string();
}

amqp_bytes_t bytes(const std::string& s) {
    return {s.size(), const_cast<char*>(s.data())};
}

timeval to_timeval(std::chrono::milliseconds ms) {
    auto count = std::max<std::int64_t>(ms.count(), 0);
    return {static_cast<time_t>(count / 1000), static_cast<suseconds_t>((count % 1000) * 1000)};
}

std::chrono::milliseconds until(std::chrono::steady_clock::time_point deadline) {
    return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
}

void read_headers(const amqp_basic_properties_t& p, received& r) {
    if (!(p._flags & AMQP_BASIC_HEADERS_FLAG)) return;
    for (int i = 0; i < p.headers.num_entries; ++i) {
        const auto& e = p.headers.entries[i];
        auto name = to_string(e.key);
        const auto& v = e.value;
        switch (v.kind) {
            case AMQP_FIELD_KIND_UTF8:
            case AMQP_FIELD_KIND_BYTES:
                r.strings.emplace_back(name, to_string(v.value.bytes));
                break;
            case AMQP_FIELD_KIND_I8:
                r.ints.emplace_back(name, v.value.i8);
                break;
            case AMQP_FIELD_KIND_U8:
                r.ints.emplace_back(name, v.value.u8);
                break;
            case AMQP_FIELD_KIND_I16:
                r.ints.emplace_back(name, v.value.i16);
                break;
            case AMQP_FIELD_KIND_U16:
                r.ints.emplace_back(name, v.value.u16);
                break;
            case AMQP_FIELD_KIND_I32:
                r.ints.emplace_back(name, v.value.i32);
                break;
            case AMQP_FIELD_KIND_U32:
                r.ints.emplace_back(name, v.value.u32);
                break;
            case AMQP_FIELD_KIND_I64:
                r.ints.emplace_back(name, v.value.i64);
                break;
            case AMQP_FIELD_KIND_U64:
                r.ints.emplace_back(name, static_cast<std::int64_t>(v.value.u64));
                break;
            default:
                break;
        }
    }
}

}  // namespace

std::string received::string_header(const char* name) const {
    for (const auto& [k, v] : strings) {
        if (k == name) return v;
    }
    return {};
}

std::int64_t received::int_header(const char* name) const {
    for (const auto& [k, v] : ints) {
        if (k == name) return v;
    }
    return 0;
}

endpoint parse_url(const std::string& url) {
    std::vector<char> buffer(url.begin(), url.end());
    buffer.push_back('\0');
    amqp_connection_info info{};
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK)
        throw invalid_input(errc::config_error, "queue: malformed AMQP url");
    if (info.ssl) throw invalid_input(errc::config_error, "queue: amqps:// is not supported");
    return {info.host, info.user, info.password, info.vhost, info.port};
}

connection::connection(const endpoint& where, std::chrono::milliseconds timeout,
                       std::chrono::seconds heartbeat)
    : state_(amqp_new_connection()) {
    if (!state_) throw unavailable(backend, "rabbitmq: out of memory");
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    if (!socket) {
        amqp_destroy_connection(state_);
        throw unavailable(backend, "rabbitmq: cannot create a socket");
    }
    auto tv = to_timeval(timeout);
    amqp_set_handshake_timeout(state_, &tv);
    amqp_set_rpc_timeout(state_, &tv);
    int status = amqp_socket_open_noblock(socket, where.host.c_str(), where.port, &tv);
    if (status != AMQP_STATUS_OK) {
        amqp_destroy_connection(state_);
        throw unavailable(backend, "rabbitmq at " + where.host + ":" + std::to_string(where.port) +
                                       " unreachable: " + amqp_error_string2(status));
    }
    try {
        check(amqp_login(state_, where.vhost.c_str(), 0, 131072, static_cast<int>(heartbeat.count()),
                         AMQP_SASL_METHOD_PLAIN, where.user.c_str(), where.password.c_str()),
              "login");
        amqp_channel_open(state_, channel);
        check(amqp_get_rpc_reply(state_), "channel.open");
    } catch (...) {
        amqp_destroy_connection(state_);
        state_ = nullptr;
        throw;
    }
}

connection::~connection() {
    if (!state_) return;
    if (!broken_) {
        // A short deadline: a closing connection must not hold the owner's thread.
        timeval tv{1, 0};
        amqp_set_rpc_timeout(state_, &tv);
        amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state_);
}

void connection::fail(const std::string& what) {
    broken_ = true;
    throw unavailable(backend, "rabbitmq: " + what);
}

void connection::check_status(int status, const std::string& what) {
    if (status != AMQP_STATUS_OK) fail(what + ": " + amqp_error_string2(status));
}

void connection::check(amqp_rpc_reply_t reply, const std::string& what) {
    switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return;
        case AMQP_RESPONSE_NONE:
            fail(what + ": no reply");
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            fail(what + ": " + amqp_error_string2(reply.library_error));
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
                fail(what + ": connection closed by the server: " + to_string(m->reply_text));
            }
            if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
                fail(what + ": channel closed by the server: " + to_string(m->reply_text));
            }
            fail(what + ": server error");
    }
    fail(what + ": unknown reply");
}

void connection::set_rpc_timeout(std::chrono::milliseconds timeout) {
    auto tv = to_timeval(timeout);
    amqp_set_rpc_timeout(state_, &tv);
}

void connection::confirm_select() {
    amqp_confirm_select(state_, channel);
    check(amqp_get_rpc_reply(state_), "confirm.select");
    confirming_ = true;
}

void connection::qos(std::uint16_t prefetch) {
    amqp_basic_qos(state_, channel, 0, prefetch, 0);
    check(amqp_get_rpc_reply(state_), "basic.qos");
}

std::uint32_t connection::declare(const std::string& queue, bool sac, bool passive) {
    amqp_table_entry_t entries[3];
    int count = 0;
    entries[count].key = amqp_cstring_bytes("x-queue-type");
    entries[count].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[count++].value.value.bytes = amqp_cstring_bytes("quorum");
    if (sac) {
        entries[count].key = amqp_cstring_bytes("x-single-active-consumer");
        entries[count].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        entries[count++].value.value.boolean = 1;
    }
    if (queue.find('@') != std::string::npos) {  // an instance's queue (pipeline::instance_queue)
        entries[count].key = amqp_cstring_bytes("x-expires");
        entries[count].value.kind = AMQP_FIELD_KIND_I64;
        entries[count++].value.value.i64 = instance_queue_expiry.count();
    }
    amqp_table_t args{count, entries};
    auto* ok = amqp_queue_declare(state_, channel, bytes(queue), passive, 1, 0, 0,
                                  passive ? amqp_empty_table : args);
    check(amqp_get_rpc_reply(state_), "queue.declare " + queue);
    return ok ? ok->message_count : 0;
}

void connection::consume(const std::string& queue) {
    amqp_basic_consume(state_, channel, bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(state_), "basic.consume " + queue);
}

std::uint64_t connection::publish(const wire_message& m) {
    std::vector<amqp_table_entry_t> entries;
    entries.reserve(m.strings.size() + m.ints.size());
    for (const auto& [k, v] : m.strings) {
        amqp_table_entry_t e;
        e.key = bytes(k);
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = bytes(v);
        entries.push_back(e);
    }
    for (const auto& [k, v] : m.ints) {
        amqp_table_entry_t e;
        e.key = bytes(k);
        e.value.kind = AMQP_FIELD_KIND_I64;
        e.value.value.i64 = v;
        entries.push_back(e);
    }
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.headers = {static_cast<int>(entries.size()), entries.data()};
    check_status(
        amqp_basic_publish(state_, channel, amqp_empty_bytes, bytes(m.queue), 0, 0, &props, bytes(m.body)),
        "basic.publish");
    return confirming_ ? next_seq_++ : 0;
}

void connection::handle_frame(const amqp_frame_t& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return;  // content of something we do not expect: skip
    switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD:
        case AMQP_BASIC_NACK_METHOD: {
            std::uint64_t tag = 0;
            bool multiple = false;
            if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
                auto* a = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
                tag = a->delivery_tag;
                multiple = a->multiple;
            } else {
                auto* n = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
                tag = n->delivery_tag;
                multiple = n->multiple;
                nacked_ = true;
            }
            if (multiple) {
                confirmed_ = std::max(confirmed_, tag);
            } else {
                acked_above_.insert(tag);
            }
            while (!acked_above_.empty() && *acked_above_.begin() <= confirmed_ + 1) {
                confirmed_ = std::max(confirmed_, *acked_above_.begin());
                acked_above_.erase(acked_above_.begin());
            }
            return;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            auto* m = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
            fail("channel closed by the server: " + to_string(m->reply_text));
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            auto* m = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
            fail("connection closed by the server: " + to_string(m->reply_text));
        }
        case AMQP_BASIC_CANCEL_METHOD:
            fail("consumer cancelled by the server (queue deleted?)");
        default:
            return;
    }
}

void connection::poll() {
    amqp_maybe_release_buffers(state_);  // decoded frames live in the connection's pool until then
    while (true) {
        amqp_frame_t frame;
        timeval zero{0, 0};
        int status = amqp_simple_wait_frame_noblock(state_, &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) return;
        check_status(status, "read");
        handle_frame(frame);
    }
}

void connection::wait_confirms(std::uint64_t last, std::chrono::steady_clock::time_point deadline) {
    amqp_maybe_release_buffers(state_);
    while (confirmed_ < last) {
        auto left = until(deadline);
        if (left.count() == 0) fail("publisher confirms timed out");
        amqp_frame_t frame;
        auto tv = to_timeval(left);
        int status = amqp_simple_wait_frame_noblock(state_, &frame, &tv);
        if (status == AMQP_STATUS_TIMEOUT) continue;
        check_status(status, "waiting for confirms");
        handle_frame(frame);
    }
    if (nacked_) {
        nacked_ = false;
        throw unavailable(backend, "rabbitmq refused (nacked) a publish");
    }
}

std::optional<received> connection::next_delivery(std::chrono::milliseconds wait) {
    amqp_maybe_release_buffers(state_);
    amqp_envelope_t envelope;
    auto tv = to_timeval(wait);
    auto reply = amqp_consume_message(state_, &envelope, &tv, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        if (reply.library_error == AMQP_STATUS_TIMEOUT) return std::nullopt;
        if (reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            amqp_frame_t frame;
            timeval zero{0, 0};
            int status = amqp_simple_wait_frame_noblock(state_, &frame, &zero);
            if (status == AMQP_STATUS_TIMEOUT) return std::nullopt;
            check_status(status, "read");
            handle_frame(frame);
            return std::nullopt;
        }
    }
    check(reply, "consume");
    received r;
    r.tag = envelope.delivery_tag;
    r.redelivered = envelope.redelivered;
    r.queue = to_string(envelope.routing_key);
    r.body = to_string(envelope.message.body);
    read_headers(envelope.message.properties, r);
    amqp_destroy_envelope(&envelope);
    return r;
}

std::optional<received> connection::get(const std::string& queue) {
    amqp_maybe_release_buffers(state_);
    auto reply = amqp_basic_get(state_, channel, bytes(queue), 0);
    check(reply, "basic.get " + queue);
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return std::nullopt;
    auto* ok = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded);
    received r;
    r.tag = ok->delivery_tag;
    r.redelivered = ok->redelivered;
    r.queue = queue;
    amqp_message_t message;
    check(amqp_read_message(state_, channel, &message, 0), "reading " + queue);
    r.body = to_string(message.body);
    read_headers(message.properties, r);
    amqp_destroy_message(&message);
    return r;
}

void connection::ack(std::uint64_t tag) {
    check_status(amqp_basic_ack(state_, channel, tag, 0), "basic.ack");
}

void connection::requeue_all() {
    check_status(amqp_basic_nack(state_, channel, 0, 1, 1), "basic.nack");
}

void connection::reject(std::uint64_t tag, bool requeue) {
    check_status(amqp_basic_reject(state_, channel, tag, requeue ? 1 : 0), "basic.reject");
}

}  // namespace sluice::amqp::detail
