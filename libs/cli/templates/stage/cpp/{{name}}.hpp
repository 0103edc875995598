#pragma once
// Stage {{name}} (kind = "cpp"), written by `sluice new stage {{name}} --kind cpp`.
#include <sluice/pipeline/stage.hpp>

namespace {{ident}} {

/// The reply to one message (docs/stages.md): placed before the writer, as sluice.toml places it,
/// a message is a write request {op, event, app, model, id, owner, actor, ts} plus `data` or
/// `patch`. Runs on `instances` threads at once. A thrown exception retries the message.
sluice::pipeline::reply handle(const sluice::pipeline::stage_request& request);

}  // namespace {{ident}}
