// cram view: the browser side. Plain ES module, no build step; vega and vega-lite are globals from /lib/.
// Routes (hash): #/ runs, #/run/<run>?model=&source=&n_mem=, #/run/<run>/text?key=, #/compare?runs=a,b

const main = document.getElementById('main');
const tooltip = document.getElementById('tooltip');
const state = { runs: [], route: null, refreshTimer: null, lastRefresh: 0 };

const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const enc = encodeURIComponent;

async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function fmt(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return v === null || v === undefined ? '–' : String(v);
}

function parseRoute() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = h.split('?');
  const q = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'run' && parts[1] && parts[2] === 'text')
    return { page: 'text', run: parts[1], key: q.get('key'), q };
  if (parts[0] === 'run' && parts[1]) return { page: 'run', run: parts[1], q };
  if (parts[0] === 'compare') return { page: 'compare', q };
  return { page: 'runs', q };
}

function statusBadge(r) {
  return `<span class="state ${esc(r.state.replace(' ', '-'))}" title="${esc(r.detail)}">${esc(r.state)}</span>`;
}

function progress(r) {
  const pct = r.planned ? Math.min(100, (100 * r.done) / r.planned) : null;
  const bar = pct === null ? '' : `<span class="bar"><span style="width:${pct.toFixed(1)}%"></span></span>`;
  return `${bar}<span class="count">${r.done} / ${r.planned ?? '?'}</span>`;
}

function runLine(r) {
  const eta = r.state === 'running' ? ` · ETA ${r.eta_seconds === null ? '–' : duration(r.eta_seconds)}` : '';
  const rate = r.rate ? ` · ${r.rate.toFixed(2)} items/s` : '';
  return `${statusBadge(r)} ${progress(r)} <span class="muted">wall ${duration(r.wall_seconds)}${rate}${eta}</span>`;
}

// ------------------------------------------------------------------ figures

function showTooltip(_handler, event, _item, value) {
  if (value === null || value === undefined || value === '') {
    tooltip.hidden = true;
    return;
  }
  const rows =
    typeof value === 'object'
      ? Object.entries(value)
          .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`)
          .join('')
      : `<tr><td>${esc(value)}</td></tr>`;
  tooltip.innerHTML = `<table>${rows}</table>`;
  tooltip.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - tooltip.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, window.innerHeight - tooltip.offsetHeight - 8);
  tooltip.style.left = `${x + window.scrollX}px`;
  tooltip.style.top = `${y + window.scrollY}px`;
}

async function renderSpec(el, spec, onClick) {
  // Warnings (an empty panel's extent, ...) are the report's too; only errors reach the console.
  const quiet = {
    level() {
      return quiet;
    },
    warn() {
      return quiet;
    },
    info() {
      return quiet;
    },
    debug() {
      return quiet;
    },
    error(...a) {
      console.error(...a);
      return quiet;
    },
  };
  const vg = vegaLite.compile(spec, { logger: quiet }).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'svg', container: el, hover: true, logLevel: vega.Error });
  view.tooltip(showTooltip);
  if (onClick) view.addEventListener('click', (_e, item) => item && item.datum && onClick(item.datum));
  await view.runAsync();
  return view;
}

const skipped = (f) => `<h3>${esc(f.title)}</h3><p class="skip">Not drawn: ${esc(f.skipped)}.</p>`;
const sectionsHtml = (sections) =>
  `<div class="sections">${sections.map((s) => `<section><h2>${esc(s.title)}</h2>${s.html}</section>`).join('')}</div>`;
const checkbox = (attrs, on, label) =>
  `<label><input type="checkbox" ${attrs} value="${esc(label)}" ${on ? 'checked' : ''}>${esc(label)}</label>`;

async function renderFigures(container, figures, onClick) {
  // A drawn figure shows its own title (the spec's); a skipped one gets it as a heading.
  container.innerHTML = figures
    .map(
      (f, i) => `<section class="figure" data-name="${esc(f.name)}">
    ${f.spec ? `<div class="chart" id="fig-${i}"></div>` : skipped(f)}
    <p class="caption">${esc(f.caption)}</p></section>`,
    )
    .join('');
  await Promise.all(
    figures.map(async (f, i) => {
      if (!f.spec) return;
      const el = container.querySelector(`#fig-${i}`);
      try {
        await renderSpec(el, f.spec, onClick);
        el.dataset.rendered = 'true';
      } catch (e) {
        el.innerHTML = `<p class="error">Could not draw this figure: ${esc(e.message)}</p>`;
      }
    }),
  );
}

// ------------------------------------------------------------------ pages

function renderRuns() {
  const picked = new Set([...main.querySelectorAll('.pick:checked')].map((c) => c.value));
  const rows = state.runs
    .map(
      (r) => `<tr data-run="${esc(r.name)}">
    <td><input type="checkbox" class="pick" value="${esc(r.name)}" ${picked.has(r.name) ? 'checked' : ''}
      ${r.kind === 'capacity' ? '' : 'disabled title="compare takes capacity runs"'}></td>
    <td><a href="#/run/${enc(r.name)}">${esc(r.name)}</a></td><td>${esc(r.kind)}</td>
    <td>${esc(r.models.join(', '))}</td><td>${esc(r.sources.join(', '))}</td>
    <td class="status">${runLine(r)}${r.error ? `<div class="error">${esc(r.error)}</div>` : ''}</td></tr>`,
    )
    .join('');
  main.innerHTML = `<h1>Runs</h1>
    ${
      state.runs.length
        ? `<table class="runs"><thead><tr><th></th><th>Run</th><th>Kind</th><th>Models</th><th>Sources</th>
      <th>Status · texts done / planned</th></tr></thead><tbody>${rows}</tbody></table>
      <p><button id="compare-btn">Compare selected runs</button></p>`
        : '<p>No runs in this results folder yet (a run is a folder holding config.yaml).</p>'
    }`;
  const btn = document.getElementById('compare-btn');
  if (btn) {
    btn.onclick = () => {
      const picked = [...main.querySelectorAll('.pick:checked')].map((c) => c.value);
      location.hash = `#/compare?runs=${picked.map(enc).join(',')}`;
    };
  }
}

function filterBar(view, route) {
  const groups = [
    ['model', 'Model'],
    ['source', 'Source'],
    ['n_mem', 'K'],
  ];
  const html = groups
    .filter(([f]) => view.filters[f].length > 1)
    .map(([f, label]) => {
      const on = new Set((route.q.get(f) ?? '').split(',').filter(Boolean));
      return `<fieldset><legend>${label}</legend>${view.filters[f]
        .map((v) => checkbox(`data-field="${f}"`, on.has(String(v)), v))
        .join('')}</fieldset>`;
    })
    .join('');
  return html ? `<div class="filters" id="filters">${html}<span class="muted">none ticked = all</span></div>` : '';
}

async function renderRun(route) {
  const query = ['model', 'source', 'n_mem']
    .filter((f) => route.q.get(f))
    .map((f) => `${f}=${enc(route.q.get(f))}`)
    .join('&');
  const view = await api(`/api/runs/${enc(route.run)}${query ? `?${query}` : ''}`);
  const r = view.run;
  const textRows = view.texts.rows
    .map(
      (row) =>
        `<tr class="text-row" data-key="${esc(row.key)}">${row.values
          .map((v) => `<td>${esc(fmt(v))}</td>`)
          .join('')}</tr>`,
    )
    .join('');
  main.innerHTML = `<h1>${esc(r.name)} <span class="muted">${esc(r.kind)}</span></h1>
    <p class="runline" id="runline">${runLine(r)}</p>
    ${filterBar(view, route)}
    <ul class="summary">${view.summary.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>
    ${view.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}
    <h2>Figures</h2><p class="muted">Hover a mark for its values; click a point of a single text to open it; click a
    legend entry to show only that series (click it again to show all; entries add up).</p>
    <div id="figures"></div>
    ${sectionsHtml(view.sections)}
    <h2>Texts <span class="muted">(${view.texts.shown} of ${view.texts.total}; click a row)</span></h2>
    <table class="texts"><thead><tr>${view.texts.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead>
    <tbody>${textRows}</tbody></table>
    <details><summary>Configuration</summary><pre>${esc(JSON.stringify(view.config, null, 2))}</pre></details>`;
  main.querySelectorAll('.text-row').forEach((tr) => {
    tr.onclick = () => {
      location.hash = `#/run/${enc(r.name)}/text?key=${enc(tr.dataset.key)}`;
    };
  });
  main.querySelectorAll('#filters input').forEach((box) => {
    box.onchange = () => {
      const q = new URLSearchParams();
      for (const f of ['model', 'source', 'n_mem']) {
        const on = [...main.querySelectorAll(`#filters input[data-field="${f}"]:checked`)].map((b) => b.value);
        if (on.length) q.set(f, on.join(','));
      }
      location.hash = `#/run/${enc(r.name)}${q.toString() ? `?${q.toString().replace(/%2C/g, ',')}` : ''}`;
    };
  });
  await renderFigures(document.getElementById('figures'), view.figures, async (datum) => {
    if (datum.sample_index === undefined) return;
    const fields = ['model', 'source', 'n_mem', 'length', 'sample_index'].filter((f) => datum[f] !== undefined);
    try {
      const { key } = await api(
        `/api/runs/${enc(r.name)}/find?${fields.map((f) => `${f}=${enc(datum[f])}`).join('&')}`,
      );
      location.hash = `#/run/${enc(r.name)}/text?key=${enc(key)}`;
    } catch (e) {
      console.warn(e.message);
    }
  });
  main.dataset.ready = 'run';
}

function curveSpec(curve) {
  const values = curve.loss.map((loss, i) => ({ step: i + 1, loss, accuracy: curve.accuracy[i] }));
  const panel = (field, title, scale) => ({
    width: 320,
    height: 160,
    mark: { type: 'line', point: values.length <= 60, tooltip: true },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'Optimisation step' },
      y: { field, type: 'quantitative', title, scale, axis: { format: '~g' } },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    hconcat: [
      panel('loss', 'Loss, nats per token', { zero: false }),
      panel('accuracy', 'Teacher-forced accuracy', { domain: [0, 1] }),
    ],
  };
}

async function renderText(route) {
  const t = await api(`/api/runs/${enc(route.run)}/text?key=${enc(route.key ?? '')}`);
  const g = t.regeneration;
  let tokens = '<p class="note">The text could not be shown: ' + esc(t.text_from) + '</p>';
  if (t.tokens) {
    const miss = g && g.first_miss !== null ? g.first_miss : null;
    const gm = g && g.generated_miss;
    const missText = gm ? `, generated ${JSON.stringify(gm.text)} (#${gm.id})` : '';
    tokens = `<div class="tokens" id="tokens">${t.tokens
      .map((tok, i) => {
        const cls =
          i === 0
            ? 'given'
            : miss === null
              ? g && g.exact
                ? 'ok'
                : ''
              : i < miss
                ? 'ok'
                : i === miss
                  ? 'miss'
                  : 'after';
        const title =
          i === 0
            ? 'given to the model with the vectors'
            : i === miss
              ? `first mismatch: expected #${tok.id}${missText}`
              : `#${tok.id}`;
        const shown = tok.text === '' ? (i === 0 ? '⟨BOS⟩' : '⟨∅⟩') : tok.text;
        return `<span class="tok ${cls}" title="${esc(title)}">${esc(shown)}</span>`;
      })
      .join('')}</div>
    ${
      g
        ? `<p class="legend"><span class="tok given">first token</span> given with the vectors ·
    <span class="tok ok">regenerated</span> greedy regeneration matched ·
    <span class="tok miss">first mismatch</span>${
      g && g.generated_miss
        ? ` (the model generated <code>${esc(JSON.stringify(g.generated_miss.text))}</code> instead)`
        : ''
    } ·
    <span class="tok after">after it</span></p>`
        : ''
    }`;
  }
  main.innerHTML = `<p><a href="#/run/${enc(t.run)}">← ${esc(t.run)}</a></p>
    <h1>Text ${esc(t.record.sample_index ?? '')} <span class="muted">${esc(t.key)}</span></h1>
    <table class="facts">${t.facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
    <h2>The text as crammed</h2>${tokens}
    ${g && g.note ? `<p class="note">${esc(g.note)}</p>` : ''}
    <p class="muted">Ids from ${esc(t.text_from)}.</p>
    ${
      t.vector_file
        ? `<p><a class="download" href="/files/${enc(t.run)}/${t.vector_file.split('/').map(enc).join('/')}"
      download>Download its vectors (${esc(t.vector_file)})</a></p>`
        : '<p class="muted">The run did not keep its vectors.</p>'
    }
    <h2>Optimisation curve</h2>${
      t.curve
        ? '<div id="curve"></div>'
        : `<p class="muted">Not kept for this text (the
      config's <code>curves</code> keeps the first few texts).</p>`
    }
    <details><summary>Record</summary><pre>${esc(JSON.stringify(t.record, null, 2))}</pre></details>`;
  if (t.curve) await renderSpec(document.getElementById('curve'), curveSpec(t.curve));
  main.dataset.ready = 'text';
}

async function renderCompare(route) {
  const picked = (route.q.get('runs') ?? '').split(',').filter(Boolean);
  if (state.runs.length === 0) state.runs = (await api('/api/runs')).runs;
  const choices = state.runs
    .filter((r) => r.kind === 'capacity')
    .map((r) => checkbox('class="cmp"', picked.includes(r.name), r.name))
    .join('');
  main.innerHTML = `<h1>Compare runs</h1><div class="filters" id="cmp-pick"><fieldset><legend>Runs</legend>${
    choices || 'no capacity runs'
  }</fieldset></div><div id="cmp"></div>`;
  main.querySelectorAll('.cmp').forEach((b) => {
    b.onchange = () => {
      const on = [...main.querySelectorAll('.cmp:checked')].map((x) => x.value);
      location.hash = `#/compare?runs=${on.map(enc).join(',')}`;
    };
  });
  const out = document.getElementById('cmp');
  if (picked.length === 0) {
    out.innerHTML = '<p class="muted">Tick two or more runs.</p>';
    return;
  }
  const c = await api(`/api/compare?runs=${picked.map(enc).join(',')}`);
  const runHeads = c.runs.map((r) => `<th>${esc(r)}: capacity (texts)</th>`).join('');
  const head = `<tr><th>Model</th><th>Source</th><th>K</th>${runHeads}</tr>`;
  const rows = c.side_by_side
    .map(
      (s) =>
        `<tr><td>${esc(s.model)}</td><td>${esc(s.source)}</td><td>${s.n_mem}</td>${s.capacity
          .map(
            (x) => `<td class="num">${x ? `${x.capacity ?? '–'} <span class="muted">(${x.texts})</span>` : '–'}
              </td>`,
          )
          .join('')}</tr>`,
    )
    .join('');
  out.innerHTML = `<h2>Capacity side by side</h2><table class="side">${head}${rows}</table>
    ${c.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}
    <p><input id="cmp-name" value="compare-${esc(c.runs.join('-').slice(0, 60))}" size="40">
    <button id="cmp-write">Write this comparison to a folder</button> <span id="cmp-written" class="muted"></span></p>
    ${sectionsHtml(c.sections)}
    <h2>Figures</h2><div id="figures"></div>`;
  document.getElementById('cmp-write').onclick = async () => {
    const msg = document.getElementById('cmp-written');
    try {
      const w = await api('/api/compare', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ runs: c.runs, name: document.getElementById('cmp-name').value }),
      });
      msg.textContent = `written: ${w.folder}/ (${w.files} files; report ${w.report})`;
    } catch (e) {
      msg.textContent = e.message;
    }
  };
  await renderFigures(document.getElementById('figures'), c.figures);
  main.dataset.ready = 'compare';
}

async function route() {
  const r = parseRoute();
  state.route = r;
  main.dataset.ready = '';
  tooltip.hidden = true;
  try {
    if (r.page === 'run') await renderRun(r);
    else if (r.page === 'text') await renderText(r);
    else if (r.page === 'compare') await renderCompare(r);
    else {
      state.runs = (await api('/api/runs')).runs;
      renderRuns();
      main.dataset.ready = 'runs';
    }
  } catch (e) {
    main.innerHTML = `<p class="error">${esc(e.message)}</p><p><a href="#/">All runs</a></p>`;
    main.dataset.ready = 'error';
  }
}

// ------------------------------------------------------------------ live updates

function live() {
  const dot = document.getElementById('live');
  const es = new EventSource('/api/events');
  es.onopen = () => dot.classList.add('on');
  es.onerror = () => dot.classList.remove('on');
  es.addEventListener('runs', (ev) => {
    const { runs, changed } = JSON.parse(ev.data);
    state.runs = runs;
    const r = state.route;
    if (!r) return;
    if (r.page === 'runs' && main.dataset.ready === 'runs') renderRuns();
    if (r.page === 'run' && changed.includes(r.run)) {
      const mine = runs.find((x) => x.name === r.run);
      const line = document.getElementById('runline');
      if (mine && line) line.innerHTML = runLine(mine);
      // Records changed: draw the page again once a burst of writes settles, at most every 2 s, keeping the scroll.
      clearTimeout(state.refreshTimer);
      const wait = Math.max(300, 2000 - (Date.now() - (state.lastRefresh ?? 0)));
      state.refreshTimer = setTimeout(() => {
        const y = window.scrollY;
        state.lastRefresh = Date.now();
        if (state.route === r)
          renderRun(r)
            .then(() => window.scrollTo(0, y))
            .catch((e) => console.warn(e.message));
      }, wait);
    }
  });
}

window.addEventListener('hashchange', route);
document.addEventListener('mouseleave', () => {
  tooltip.hidden = true;
});
live();
route();
