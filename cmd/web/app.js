/*
 * zapjobs web: the dashboard's browser side, the one script index.html
 * loads; it imports the rest as ES modules.  Plain DOM, no framework, no
 * build step.
 *
 * The location hash picks a page (#/runs?status=failed, #/run/42...): this
 * file routes to it, then reads the session and opens the event stream.
 */
import { el, add } from './dom.js';
import { loadSession, say, clearMessage } from './api.js';
import { currentView, setView, connect } from './live.js';
import { View } from './view.js';
import { OverviewView } from './overview.js';
import { RunsView } from './runs.js';
import { RunView } from './run.js';
import { QueuesView } from './queues.js';
import { DefinitionsView } from './definitions.js';
import { WorkersView } from './workers.js';

const main = document.getElementById('main');

class MissingView extends View {
  mount() {
    this.title = 'Not found';
    add(this.root, el('div', { class: 'errbox' }, 'No such page. ', el('a', { href: '#/' }, 'Back to the overview')));
  }
}

/* Routing: #/page/arg?filters */
function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const qi = h.indexOf('?');
  const parts = (qi < 0 ? h : h.slice(0, qi)).split('/').filter(Boolean).map(x => {
    try { return decodeURIComponent(x); } catch (e) { return x; }
  });
  return { page: parts[0] || 'overview', arg: parts[1], params: new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)) };
}

const VIEWS = { overview: OverviewView, runs: RunsView, queues: QueuesView, definitions: DefinitionsView, workers: WorkersView, run: RunView };

function route() {
  const r = parseHash();
  let V = VIEWS[r.page] || MissingView;
  if (r.page === 'run' && !/^\d+$/.test(r.arg || '')) V = MissingView;
  const old = currentView();
  if (old && old.route.page !== r.page) clearMessage();
  if (old) old.destroy();
  const view = new V(r);
  setView(view);
  view.mount();
  main.replaceChildren(view.root);
  document.title = `${view.title} · zapjobs`;
  for (const a of document.querySelectorAll('#nav a')) {
    const here = a.getAttribute('data-page') === (r.page === 'run' ? 'runs' : r.page);
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  view.reload();
}

async function boot() {
  try {
    await loadSession();
  } catch (e) {
    say(`Cannot read the session (${e.message}): actions are disabled.`, 'error');
  }
  window.addEventListener('hashchange', route);
  route();
  connect();
}

boot();
