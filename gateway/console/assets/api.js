// The console's only way to the gateway: the agency API behind
// /console/api, with the session cookie (same origin), the session's CSRF
// token on every state-changing call, and the officer's stated reason for
// access (Liaison-Purpose, Liaison-Justification) on every call, so that
// each console action is decided by the policy and audited like any other
// API call.

const API = '/console/api';
// The console is served with Referrer-Policy: no-referrer, under which the
// Fetch standard ("serializing a request origin") has a same-origin POST
// carry "Origin: null" (Chromium does so for form posts; for fetch() it
// sends the origin today). The gateway checks Origin, so each call asks for
// same-origin: the page's own origin on our calls, nothing to anyone else.
const SAME_ORIGIN = 'same-origin';
let csrf = '';
let reason = { purpose: '', justification: '' };

export function setCSRF(token) {
  csrf = token || '';
}

export function setReason(r) {
  reason = { purpose: r.purpose || '', justification: r.justification || '' };
}

export function getReason() {
  return { ...reason };
}

/** An API refusal: status, the problem+json body, and its text in words. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(status, problem));
    this.detail = problemDetail(status, problem);
    this.status = status;
    this.problem = problem || {};
  }
  /** The problem type's slug (the part after the last /), e.g. "not-yet-signed". */
  get slug() {
    const t = this.problem.type || '';
    return t.slice(t.lastIndexOf('/') + 1);
  }
}

/**
 * A problem in plain words: the detail (or title), then each public reason's
 * message. Codes are kept for the reasons list (ApiError.problem) and shown
 * second by the views, never instead of the words.
 */
export function problemText(status, p) {
  let s = problemDetail(status, p);
  if (!p || typeof p !== 'object') return s;
  const msgs = (p.reasons || []).map((r) => r.message || r.code).filter(Boolean);
  if (msgs.length) s += ' ' + msgs.map((m) => m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.')).join(' ');
  if (Array.isArray(p.errors) && p.errors.length) s += ' ' + p.errors.map((e) => `${e.pointer || e.field || ''} ${e.detail || e.message || ''}`.trim()).join('; ') + '.';
  return s;
}

/** The problem's detail (or title) as a sentence, without its reasons. */
export function problemDetail(status, p) {
  if (!p || typeof p !== 'object') return `The gateway answered ${status} without saying why.`;
  let s = p.detail || p.title || `The gateway answered ${status}.`;
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

/** Header values must be bytes a fetch can send (Latin-1); the API wants printable text. */
export function headerSafe(s) {
  return /^[\x20-\x7e]*$/.test(s);
}

/**
 * Calls the API. opts: query (object; empty values dropped), body (JSON),
 * headers (extra, e.g. a dialog's reason as Liaison-Justification), blob
 * (answer as a Blob). Throws ApiError; on 401 sends the page to sign-in.
 */
export async function api(method, path, opts = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  const headers = { Accept: 'application/json, application/problem+json' };
  const purpose = opts.purpose ?? reason.purpose;
  const justification = opts.justification ?? reason.justification;
  if (purpose) headers['Liaison-Purpose'] = purpose;
  if (justification) headers['Liaison-Justification'] = justification;
  if (method !== 'GET' && method !== 'HEAD') headers['Liaison-CSRF'] = csrf;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store', referrerPolicy: SAME_ORIGIN });
  } catch {
    throw new ApiError(0, { detail: 'the gateway could not be reached; check the connection and try again' });
  }
  if (res.status === 401) {
    location.assign('/console/login');
    throw new ApiError(401, { detail: 'your session has ended; signing you in again' });
  }
  if (!res.ok) {
    let p = null;
    try {
      p = await res.json();
    } catch {
      p = null;
    }
    const err = new ApiError(res.status, p);
    err.retryAfter = Number(res.headers.get('Retry-After')) || 0;
    throw err;
  }
  if (opts.blob) return res.blob();
  if (res.status === 204) return null;
  return res.json();
}

/** GET /console/session, or null when there is no session (401). */
export async function session() {
  const res = await fetch('/console/session', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  if (res.status === 401) return null;
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return res.json();
}

export async function logout() {
  await fetch('/console/logout', { method: 'POST', credentials: 'same-origin', headers: { 'Liaison-CSRF': csrf }, referrerPolicy: SAME_ORIGIN });
}
