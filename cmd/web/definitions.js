/*
 * The Definitions page: jobs defined and scheduled, triggered, paused and
 * resumed from here.
 */
import { el, add, badge, td, table, keyedBody, section } from './dom.js';
import { num, timeCell, runLink, runsHref } from './format.js';
import { get, post, say } from './api.js';
import { View, act, actionButton } from './view.js';

export class DefinitionsView extends View {
  mount() {
    this.title = 'Definitions';
    this.names = new Set();
    this.tbody = keyedBody(10, 'No definitions. Create one with jobs.define() or jobs.schedule().');
    add(this.root, section('Definitions and schedules', 'definitions',
      table(['Name', 'Kind', 'Queue', 'Schedule', 'Next run', 'Last run', ['Skipped', 'num'], 'State', 'Command', ''], this.tbody)));
  }
  async load() {
    const rows = await get('api/definitions');
    if (!this.alive) return;
    this.names = new Set(rows.map(d => d.name));
    this.tbody.update(rows, d => d.name, d => this.row(d));
  }
  /* Only runs of a defined job change this page (a summary may hide its names). */
  onEvent(ev) {
    if ((ev.type === 'run' || ev.type === 'runs') && (ev.name == null || this.names.has(ev.name))) this.stale();
  }
  row(d) {
    const state = !d.enabled ? 'disabled' : d.paused ? 'paused' : 'active';
    return el('tr', { 'data-testid': 'definition-row', 'data-name': d.name },
      el('td', { class: 'clip' }, el('a', { href: runsHref({ name: d.name }) }, d.name),
        d.description ? el('div', { class: 'muted small' }, d.description) : null),
      td(d.kind), td(d.queue == null ? el('span', { class: 'muted' }, 'default') : d.queue, 'clip'),
      td(d.schedule == null ? el('span', { class: 'muted' }, 'on demand') : [el('span', { class: 'mono' }, d.schedule),
        d.timezone ? el('span', { class: 'muted small' }, ' ' + d.timezone) : null], 'nowrap'),
      td(timeCell(d.next_run_at), 'time'),
      td(d.last_run_id == null ? el('span', { class: 'muted' }, 'never')
        : [badge(d.last_status), ' ', runLink(d.last_run_id), ' ', el('span', { class: 'muted' }, timeCell(d.last_run_at))], 'nowrap'),
      td(num(d.skipped_ticks), 'num'), td(badge(state)),
      el('td', { class: 'clip mono', title: d.command }, d.command),
      el('td', { class: 'nowrap' },
        actionButton('Trigger now', 'trigger-definition', b => act(b, async () => {
          const r = await post(`api/definitions/${encodeURIComponent(d.name)}/trigger`, {});
          say([`Triggered ${d.name}: run `, runLink(r.run_id)]);
        }), { class: 'btn small', 'data-name': d.name }), ' ',
        d.paused
          ? actionButton('Resume', 'resume-definition', b => this.toggle(b, d.name, 'resume'), { class: 'btn small', 'data-name': d.name })
          : actionButton('Pause', 'pause-definition', b => this.toggle(b, d.name, 'pause'), { class: 'btn small', 'data-name': d.name })));
  }
  toggle(btn, name, verb) {
    return act(btn, async () => {
      const r = await post(`api/definitions/${encodeURIComponent(name)}/${verb}`, {});
      say(`${name} ${r.paused ? 'paused' : 'resumed'}`);
    });
  }
}
