// The console's shell: the session, the "Reason for access" form, and a
// router on hash routes (#/audit, #/audit/<seq>, …). Views are ES modules
// loaded on first use, so the first page loads only what it shows.

import { session, setCSRF, setReason, logout, headerSafe } from './api.js';
import { PURPOSES, DEFAULT_PURPOSE } from './purposes.js';
import { h, alertBox } from './dom.js';
import { parseHash } from './route.js';

const ROUTES = {
  audit: ['./views/audit.js', 'Audit log'],
  disclosures: ['./views/disclosures.js', 'Disclosures'],
  charts: ['./views/charts.js', 'Charts'],
  explorer: ['./views/explorer.js', 'Decision explorer'],
  shadow: ['./views/shadow.js', 'Shadow report'],
  agreements: ['./views/agreements.js', 'Agreements'],
  consents: ['./views/consents.js', 'Consents'],
};

const main = document.getElementById('main');
const KEY = 'liaison.console.reason';
let me = null;
let seq = 0; // route generation: a slow view must not draw over a newer one

function loadReason() {
  let r = null;
  try {
    r = JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    r = null;
  }
  const valid = r && PURPOSES.some(([v]) => v === r.purpose);
  return valid ? r : { purpose: DEFAULT_PURPOSE, justification: '' };
}

function initReason() {
  const form = document.getElementById('reason');
  const sel = form.elements.purpose;
  for (const [v, text] of PURPOSES) sel.append(h('option', { value: v, text }));
  const r = loadReason();
  sel.value = r.purpose;
  form.elements.justification.value = r.justification;
  setReason(r);
  const status = document.getElementById('reason-status');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const j = form.elements.justification.value.trim();
    if (!headerSafe(j)) {
      status.textContent = 'The justification must be plain text (letters, digits, spaces and punctuation, no accented letters).';
      form.elements.justification.setAttribute('aria-invalid', 'true');
      return;
    }
    form.elements.justification.removeAttribute('aria-invalid');
    const nr = { purpose: sel.value, justification: j };
    sessionStorage.setItem(KEY, JSON.stringify(nr));
    setReason(nr);
    status.textContent = `Applied: purpose ${sel.options[sel.selectedIndex].text}${j ? ', justification recorded' : ''}.`;
    route(); // the view asks again, with the new reason
  });
}


async function route() {
  const r = parseHash(location.hash);
  if (!r || !ROUTES[r.name]) {
    if (!location.hash.startsWith('#/')) {
      // "#main" and the like are in-page anchors, not routes.
      if (location.hash && location.hash !== '#main') return;
    }
    location.replace('#/audit');
    return;
  }
  const gen = ++seq;
  const [mod, title] = ROUTES[r.name];
  for (const a of document.querySelectorAll('nav.nav a')) {
    if (a.getAttribute('href') === `#/${r.name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${title} — Liaison console`;
  let view;
  try {
    view = await import(mod);
  } catch (e) {
    main.replaceChildren(alertBox(`This view could not be loaded (${e.message}).`));
    return;
  }
  if (gen !== seq) return;
  const root = h('div.view');
  main.replaceChildren(root);
  const ctx = { me, params: r.params, arg: r.arg, current: () => gen === seq, navigate: (hash) => (location.hash = hash), reload: () => route() };
  try {
    await view.render(root, ctx);
  } catch (e) {
    if (gen === seq) root.append(alertBox(e.message || String(e)));
  }
  if (gen === seq && focusNext) {
    focusNext = false;
    const hd = root.querySelector('h1');
    if (hd) {
      hd.tabIndex = -1;
      hd.focus();
    }
  }
}

// Move focus to the new view's heading after a navigation the user made,
// not on the first load nor after "Apply".
let focusNext = false;

async function start() {
  document.getElementById('skip').addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  initReason();
  // Fetch the first view's module while the session is asked for.
  const first = parseHash(location.hash);
  if (first && ROUTES[first.name]) import(ROUTES[first.name][0]).catch(() => {});
  let s;
  try {
    s = await session();
  } catch (e) {
    main.replaceChildren(alertBox(e.message));
    return;
  }
  if (!s) {
    location.assign('/console/login');
    return;
  }
  me = s;
  setCSRF(s.csrf_token);
  document.getElementById('who').textContent = `Signed in as ${s.officer} (${s.agency})`;
  const out = document.getElementById('signout');
  out.hidden = false;
  out.addEventListener('click', async () => {
    out.disabled = true;
    await logout().catch(() => {});
    document.getElementById('who').textContent = 'Signed out';
    out.hidden = true;
    main.replaceChildren(h('h1', { text: 'Signed out' }), h('p', null, 'You are signed out. ', h('a', { href: '/console/login', text: 'Sign in again' })));
  });
  window.addEventListener('hashchange', () => {
    focusNext = true;
    route();
  });
  route();
}

start();
