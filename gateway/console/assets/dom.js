// Small DOM helpers. Text is always set as text (never parsed as HTML), so
// nothing the gateway returns can become markup; no style attributes either
// (the CSP allows only the stylesheet): looks are classes.

/** h('tag.class', {attr: value, text: '…'}, ...children) */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      // false leaves an attribute out, but sets a boolean property (spellcheck).
      if (v === false && !(k in el && typeof el[k] === 'boolean')) continue;
      if (k === 'text') el.textContent = v;
      else if (k === 'class') el.className = v;
      else if (k in el && typeof el[k] !== 'function' && k !== 'list' && k !== 'form') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
/** A labelled field: <div class="field"><label for=…>label</label><input id=…></div>. */
export function field(label, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  const parts = [h('label', { for: id, text: label }), control];
  if (hint) {
    const hid = `${id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('span.hint', { id: hid, text: hint }));
  }
  return h('div.field', null, parts);
}

export function select(name, options, value) {
  const s = h('select', { name });
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: v, text, selected: v === value }));
  }
  return s;
}

/** role=alert with the message: refusals and failures, in words. */
export function alertBox(message) {
  return h('div.alert', { role: 'alert' }, h('p', { text: message }));
}

/** A visible error for a failed call, the problem's reasons listed with codes second. */
export function problemBox(err) {
  const reasons = err.problem?.reasons || [];
  // The reasons are listed (message first, code second), so the sentence
  // above them is the detail alone.
  const box = alertBox(reasons.length && err.detail ? err.detail : err.message);
  if (reasons.length) {
    box.append(h('ul.reasons', null, reasons.map((r) => h('li', null, r.message || r.code, r.code ? h('span.code', { text: ` (${r.code})` }) : null))));
  }
  if (err.problem?.request_id) box.append(h('p.small', { text: `Request id for the gateway's operator: ${err.problem.request_id}` }));
  return box;
}

export function loading(text = 'Loading…') {
  return h('p.loading', { role: 'status', text });
}

/** A table with a caption and header cells; rows are added by the caller. */
export function table(caption, headers, opts = {}) {
  const t = h('table' + (opts.cls ? '.' + opts.cls : ''), null,
    h('caption', { text: caption }),
    h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody'));
  return t;
}

/** 2026-12-01T09:00:00.123Z → "2026-12-01 09:00:00 UTC" (times are shown in UTC, as logged). */
export function when(t) {
  if (!t) return '';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(t);
  return m ? `${m[1]} ${m[2]} UTC` : t;
}

export const OPERATIONS = [
  ['collection', 'Collection (published)'],
  ['consultation', 'Consultation'],
  ['disclosure', 'Disclosure'],
  ['erasure', 'Erasure (recalled)'],
  ['alteration', 'Alteration'],
  ['combination', 'Combination'],
  ['denial', 'Denial'],
];
const opWords = Object.fromEntries(OPERATIONS);
export function operationWords(op) {
  return opWords[op] || op || '';
}

/** Starts a browser download of a Blob, named name. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Replaces the content of root and moves focus to its first heading (route changes). */
export function show(root, ...children) {
  root.replaceChildren(...children.flat());
}

/**
 * Asks for a reason in a modal <dialog> (textbox "Reason", buttons
 * "Confirm" and "Cancel"); resolves to the reason, or null if cancelled.
 * The reason is sent as Liaison-Justification, so it must be plain text.
 */
export function askReason(title, explain) {
  return new Promise((resolve) => {
    const input = h('input', { type: 'text', name: 'reason', required: true, maxlength: 1024, autocomplete: 'off' });
    const err = h('p.error', { role: 'alert' });
    const form = h('form', { method: 'dialog' },
      h('h2', { text: title }), explain ? h('p', { text: explain }) : null,
      field('Reason', input, 'Recorded in the audit log.'), err,
      h('div.actions', null, h('button', { type: 'submit', value: 'confirm', text: 'Confirm' }), h('button.secondary', { type: 'button', value: 'cancel', text: 'Cancel' })));
    const dlg = h('dialog', { 'aria-label': title }, form);
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (!v) {
        err.textContent = 'Give a reason.';
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      if (!/^[\x20-\x7e]*$/.test(v)) {
        err.textContent = 'The reason must be plain text (letters, digits, spaces and punctuation, no accented letters).';
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      finish(v);
    });
    form.querySelector('button[value=cancel]').addEventListener('click', () => finish(null));
    dlg.addEventListener('cancel', () => finish(null));
    dlg.addEventListener('close', () => finish(null));
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
  });
}
