// Hash routes: "#/audit/42?record=x" → {name: "audit", arg: "42",
// params: URLSearchParams}. A separate module so that node tests it.

/** Parses a location hash, or null when it is not a route ("#/name…"). */
export function parseHash(hash) {
  const m = /^#\/([a-z]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(hash || '');
  if (!m) return null;
  let arg = '';
  try {
    arg = m[2] ? decodeURIComponent(m[2]) : '';
  } catch {
    return null; // a malformed escape is no route
  }
  return { name: m[1], arg, params: new URLSearchParams(m[3] || '') };
}
