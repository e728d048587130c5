/*
 * The dashboard's DOM helpers: elements, their attributes, tables.
 *
 * Every string from the database reaches the page through text nodes (el(),
 * textContent): nothing in the dashboard assigns innerHTML, so a job named
 * "<img onerror=...>" shows literally.
 */

export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  add(e, kids);
  return e;
}

function setAttrs(e, attrs) {
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k === 'class') e.setAttribute('class', v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') e[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}

/* Append nodes or strings (as text); arrays are flattened, null skipped. */
export function add(parent, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k == null || k === false) continue;
    parent.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return parent;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
  return add(e, kids);
}

/* A class name made of a database value (a status), reduced to safe characters. */
export function cls(v) { return String(v == null ? '' : v).toLowerCase().replace(/[^a-z0-9_-]/g, ''); }

export function badge(status) { return el('span', { class: 'st st-' + cls(status) }, status == null ? '—' : status); }

export function td(content, c) { return el('td', c ? { class: c } : null, content); }

export function table(head, body) {
  return el('table', null,
    el('thead', null, el('tr', null, head.map(h => Array.isArray(h) ? el('th', { class: h[1] }, h[0]) : el('th', null, h)))),
    body);
}

export function emptyRow(ncols, text) { return el('tr', null, el('td', { class: 'empty', colspan: ncols }, text)); }

/*
 * A tbody whose rows are kept by key: a row whose data did not change keeps
 * its element, so a click, hover or focus on it survives the re-renders
 * that events cause.  update(rows, key, build, salt): salt is any other
 * input of build (a scale) that must rebuild rows when it changes.
 */
export function keyedBody(ncols, emptyText) {
  const tbody = el('tbody', null, emptyRow(ncols, 'Loading…'));
  let cache = new Map();
  tbody.update = (rows, key, build, salt) => {
    const next = new Map();
    const trs = rows.map(r => {
      const k = key(r), sig = JSON.stringify(r) + (salt || '');
      let c = cache.get(k);
      if (!c || c.sig !== sig) c = { sig, tr: build(r) };
      next.set(k, c);
      return c.tr;
    });
    cache = next;
    const cur = tbody.children;
    if (!trs.length) tbody.replaceChildren(emptyRow(ncols, emptyText));
    else if (cur.length !== trs.length || trs.some((tr, i) => cur[i] !== tr)) tbody.replaceChildren(...trs);
  };
  return tbody;
}

export function section(title, testid, ...kids) {
  return el('section', { class: 'panel', 'data-testid': testid }, el('h2', null, title), kids);
}
