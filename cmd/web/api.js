/*
 * The dashboard's server access: JSON requests, the session (its CSRF token,
 * whether it may act) and the message bar that shows what came of actions.
 */
import { add } from './dom.js';

const msgBar = document.getElementById('msgbar');
const msgBox = document.getElementById('message');

/* What the server told us about this session (GET api/session). */
export const S = { csrf: null, readOnly: true };

/* fetch + JSON; a non-2xx answer throws the server's {"error": ...} text. */
async function api(path, opts) {
  let res;
  try {
    res = await fetch(path, Object.assign({ cache: 'no-store', credentials: 'same-origin' }, opts));
  } catch (e) {
    throw new Error('the dashboard server cannot be reached');
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error(body && body.error ? body.error : `HTTP ${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

export const get = path => api(path, { headers: { Accept: 'application/json' } });

export async function loadSession() {
  const s = await get('api/session');
  S.csrf = s.csrf;
  S.readOnly = !!s.read_only;
  document.getElementById('readonly').hidden = !S.readOnly;
}

/* POST with the CSRF token; a 403 about the token (the server restarted) fetches it again once. */
export async function post(path, body) {
  const send = () => api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf || '' },
    body: JSON.stringify(body || {})
  });
  try {
    return await send();
  } catch (e) {
    if (e.status !== 403 || !/CSRF/.test(e.message)) throw e;
    await loadSession();
    return send();
  }
}

/* ------------------------------------------------------------------ */
/* Messages (results of actions, errors)                              */
/* ------------------------------------------------------------------ */

export function say(content, kind) {
  msgBox.replaceChildren();
  add(msgBox, content);
  msgBar.className = 'msgbar' + (kind === 'error' ? ' error' : '');
  msgBox.setAttribute('data-kind', kind || 'ok');
  msgBar.hidden = false;
}
export function clearMessage() { msgBox.replaceChildren(); msgBox.removeAttribute('data-kind'); msgBar.hidden = true; }
document.getElementById('msgclose').addEventListener('click', clearMessage);
