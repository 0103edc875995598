#pragma once
// Reconciler {{name}} (kind = "cpp"), written by `sluice new reconciler {{name}} --kind cpp`.
#include <boost/json/object.hpp>

namespace {{ident}} {

/// The check: `{reconciler, check, document}` -> `{ok: true}` or `{ok: false, error}`.
boost::json::object check(const boost::json::object& request);
/// The fix of a document a check failed: `{reconciler, document, errors}` -> `{ok: true, patch?}`
/// (the patch is applied through the normal write path) or `{ok: false, error}`.
boost::json::object fix(const boost::json::object& request);

}  // namespace {{ident}}
