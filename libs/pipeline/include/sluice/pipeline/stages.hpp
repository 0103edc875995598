#pragma once
/// The built-in stages of the data path (DESIGN.md §2), as batch handlers for `stage_runner`.
/// They talk to each other only through queues, so each can run in its own process.
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/pipeline/stage_runner.hpp>
#include <sluice/pipeline/waiters.hpp>
#include <sluice/queue/queue.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/store/store.hpp>

namespace sluice::pipeline {

namespace queues {
inline const std::string writer = "writer";
inline const std::string transport_manager = "transport-manager";
inline const std::string websockets = "websockets-transport";
}  // namespace queues

/// writer: applies write requests to the store (idempotent by op), publishes their change
/// envelopes to `transport-manager`, then acks. A change that cannot apply (failed patch, missing
/// document) is dead-lettered and its waiter told why.
batch_handler make_writer(store::store& store, queue::queue& out, waiters& waiting);

/// transport manager: finds the devices each change reaches (channels + filters, before and after
/// images) and publishes one frame per (event, channels) group to `websockets-transport`.
batch_handler make_transport_manager(registry::registry& registry, queue::queue& out);

/// websocket transport: sequences, logs and sends the frames to the devices' connections.
batch_handler make_websocket_transport(device_hub& hub);

/// The frame head (`{"event":E,"data":D,"seq":`) a change gives a device subscribed on `channels`.
std::string frame_head_for(const boost::json::object& envelope, registry::change_kind kind,
                           const std::vector<std::string>& channels);

}  // namespace sluice::pipeline
