#pragma once
// Listener {{name}} (kind = "cpp"), written by `sluice new listener {{name}} --kind cpp`.
#include <sluice/pipeline/stage.hpp>

namespace {{ident}} {

/// Handles one change: the message is the change envelope {op, event, app, model, id, owner,
/// actor, ts, version, before, after, patch?}. `done` acknowledges it; a thrown exception (or
/// `retry`) has it retried with backoff, then dead-lettered. Runs on `instances` threads at once.
sluice::pipeline::reply handle(const sluice::pipeline::stage_request& request);

}  // namespace {{ident}}
