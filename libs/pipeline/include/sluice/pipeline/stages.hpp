#pragma once
/// The stages of the graph (DESIGN.md §2, §8): the built-ins and the three kinds of custom stage.
/// Each is a `stage_factory` for `stage_runner`; none names a queue, so each can run in its own
/// process on any broker.
#include <sluice/callout/hooks.hpp>
#include <sluice/config/config.hpp>
#include <sluice/metrics/metrics.hpp>
#include <sluice/pipeline/device_hub.hpp>
#include <sluice/pipeline/stage.hpp>
#include <sluice/pipeline/waiters.hpp>
#include <sluice/registry/registry.hpp>
#include <sluice/schema/model_schemas.hpp>
#include <sluice/store/store.hpp>

#include <boost/json/object.hpp>

namespace sluice::pipeline {

/// writer: applies write requests to the store (idempotent by op; on `access = "owner"` models
/// only the owner's changes; on models with a schema only documents that match it), runs the
/// model's after-hooks of the write, forwards each change envelope. A change that cannot apply
/// (failed patch, missing document, another user's, a schema violation) is dead-lettered and its
/// waiter told why.
stage_factory make_writer(store::store& store, const config::config& c, const schema::model_schemas& schemas, const callout::hooks& hooks,
                          waiters& waiting);

/// transport manager: finds the devices each change reaches (channels + filters, before and after
/// images) and forwards one delivery batch `{op, deliveries: [{devices, head}]}` to the stage of
/// `transports.websocket`; the envelope itself goes on to the stage's `next` (if any). When `hub`
/// has shared streams and that stage is the websocket stage itself, it numbers the frames in the
/// device log and sends each instance of the websocket stage `{op, deliveries: [{head, targets:
/// [[device, seq]]}]}` for the devices it holds. Each change that reaches devices is recorded in
/// `metrics` (the live page's feed).
stage_factory make_transport_manager(registry::registry& registry, const config::stage_config& c, device_hub& hub, metrics::metrics& metrics);

/// websocket transport: sequences, logs and sends the frames to the devices' connections. With
/// shared streams it takes both forms: numbered frames for this instance's sockets (its instance
/// queue), sent in order; and unnumbered batches (its shared queue, when custom stages after the
/// transport manager edit the batches), numbered in the device log and routed to the instances
/// holding the devices, so that a resumed device reads the edited frames.
stage_factory make_websocket_transport(device_hub& hub);

/// `kind = "exec"`: a child process per instance speaking JSON Lines (DESIGN.md §8), restarted
/// when it crashes, hangs past `timeout_ms` or writes a line that is not a reply; its stderr
/// goes to the log.
stage_factory make_exec_stage(const config::stage_config& c);

/// `kind = "webhook"`: an HTTP POST per message; the status decides (DESIGN.md §8).
stage_factory make_webhook_stage(const config::stage_config& c);

/// `kind = "cpp"`: the function registered under `function` (see `register_stage`). Throws
/// `config_error` when none is.
stage_factory make_cpp_stage(const config::stage_config& c);

/// What the built-in stages need.
struct builtin_context {
    const config::config& config;
    const schema::model_schemas& schemas;
    const callout::hooks& hooks;
    store::store& store;
    registry::registry& registry;
    device_hub& hub;
    waiters& waiting;
    metrics::metrics& metrics;
};
/// What a listener's `events` call a change (DESIGN.md §9): created, updated (a `PUT`), patched or
/// removed.
std::string listener_event(const boost::json::object& envelope);

/// The factory of any stage of the graph (a listener: its custom stage, replies only settling).
stage_factory make_stage(const config::stage_config& c, builtin_context& builtins);

/// The frame head (`{"event":E,"op":O,"data":D,"seq":`) a change gives a device subscribed on
/// `channels`.
std::string frame_head_for(const boost::json::object& envelope, registry::change_kind kind,
                           const std::vector<std::string>& channels);

}  // namespace sluice::pipeline
