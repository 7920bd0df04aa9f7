// The KYC mesh dashboard: renders GET /api/state, then every server-sent `state` event of
// /api/events; each control calls the JSON API with the page's token (X-KYC-Token).
"use strict";

const TOKEN = document.querySelector('meta[name="kyc-token"]').content;
/** "replay": `kyc-mesh replay DIR` serves this page read-only over a recording. */
const REPLAY = document.querySelector('meta[name="kyc-mode"]').content === "replay";
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let last = null;

// ---- small helpers -------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) el.append(k);
  return el;
}
function s(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}
const fmt = {
  rps: (f) => (f.rps >= 10 ? f.rps.toFixed(0) : f.rps.toFixed(1)),
  ok: (f) => (f.successRate === null ? "–" : f.successRate.toFixed(f.successRate >= 99.95 ? 0 : 1) + " %"),
  p99: (f) => (f.p99Ms === null ? "–" : f.p99Ms >= 1000 ? (f.p99Ms / 1000).toFixed(1) + " s" : f.p99Ms + " ms"),
};
function health(f) {
  if (!f || f.requests === 0) return "idle";
  if (f.successRate >= 99 && (f.p99Ms === null || f.p99Ms <= 500)) return "ok";
  if (f.successRate >= 95 || (f.p99Ms !== null && f.p99Ms <= 1000)) return "warn";
  return "bad";
}
const COLOURS = { ok: "#1f9d55", warn: "#d98a00", bad: "#d64545", idle: "#a8b1bc" };
const short = (host) => host.replace(/^kyc-/, "");
/** The shortest name that still tells the versions apart: basic, advanced. */
const tiny = (host) => short(host).replace(/^credit-check-/, "");

/** Put `nodes` in `box` unless they already are there, in order: moving a node would take the
 *  focus from a slider being dragged or a field being typed in. */
function keep(box, nodes) {
  const same = box.children.length === nodes.length && nodes.every((n, i) => box.children[i] === n);
  if (!same) box.replaceChildren(...nodes);
}

function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "toast bad" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 9000 : 4000);
}

/** Call the API; shows the answer (or the refusal) and returns whether it succeeded. */
async function send(method, path, body) {
  try {
    const r = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", "X-KYC-Token": TOKEN },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await r.json().catch(() => ({}));
    if (r.ok) toast(answer.message || "done", false);
    else toast((answer.field ? answer.field + " — " : "") + (answer.error || r.statusText), true);
    return r.ok;
  } catch (e) {
    toast("the dashboard is not reachable: " + e, true);
    return false;
  }
}

// ---- the graph -----------------------------------------------------------------------
const COLUMN_X = [72, 275, 478, 681, 1010];
/** Ambient mode: client, gateway, aggregator, its node proxy, waypoint, the scorers' node proxies,
 *  scorers; room for the curved edges' labels before the scorers' node proxies, and above them for
 *  their straight edges' labels. */
const AMBIENT_X = [72, 259, 459, 659, 859, 1129, 1354];
const VIEWBOX = "0 30 1120 265", AMBIENT_VIEWBOX = "0 0 1470 300";
const NODE_H = 56;
const lastColumn = (nodes) => Math.max(4, ...nodes.map((n) => n.column));
const nodeWidth = (n, last) => (n.column === 0 ? 124 : n.column === last ? 200 : 150);

function layout(nodes) {
  const pos = {};
  const last = lastColumn(nodes);
  const xs = last === 4 ? COLUMN_X : AMBIENT_X;
  for (let c = 0; c < xs.length; c++) {
    const col = nodes.filter((n) => n.column === c);
    col.forEach((n, i) => {
      const y = col.length === 1 ? 150 : 70 + (i * 160) / (col.length - 1);
      pos[n.id] = { x: xs[c], y, w: nodeWidth(n, last) };
    });
  }
  return pos;
}

function renderGraph(v) {
  const svg = $("graph");
  svg.replaceChildren();
  // Ambient mode has two more columns (node proxies, waypoint): a wider picture.
  svg.setAttribute("viewBox", lastColumn(v.nodes) === 4 ? VIEWBOX : AMBIENT_VIEWBOX);
  const defs = s("defs");
  for (const [k, c] of Object.entries(COLOURS)) {
    const m = s("marker", { id: "arrow-" + k, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 11, markerHeight: 11, markerUnits: "userSpaceOnUse", orient: "auto" });
    m.append(s("path", { d: "M0,0 L10,5 L0,10 z", fill: c }));
    defs.append(m);
  }
  svg.append(defs);
  const pos = layout(v.nodes);
  const maxRps = Math.max(1, ...v.edges.map((e) => e.figures.rps));
  for (const e of v.edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    const x1 = a.x + a.w / 2, y1 = a.y, x2 = b.x - b.w / 2 - 2, y2 = b.y;
    const state = health(e.figures);
    const g = s("g", { class: "edge", "data-from": e.from, "data-to": e.to, "data-state": state });
    const mid = (x1 + x2) / 2;
    const width = 1.5 + 4.5 * (e.figures.rps / maxRps);
    g.append(s("path", {
      d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
      stroke: COLOURS[state], "stroke-width": width.toFixed(1), "marker-end": `url(#arrow-${state})`,
    }));
    const f = e.figures;
    // Above a straight edge; by a curved one's end, away from the curve.
    const ly = y1 === y2 ? y1 - NODE_H / 2 - 26 : y2 < y1 ? y2 - 24 : y2 + 22;
    const lines = f.requests === 0 ? ["no traffic"] : [`${fmt.rps(f)} req/s`, `${fmt.ok(f)} · p99 ${fmt.p99(f)}`];
    // Refused by a sidecar: 401 (a token refused), 403 (no token, a claim missing, RBAC).
    if (f.unauthorized || f.forbidden) lines.push(`401 ×${f.unauthorized} · 403 ×${f.forbidden}`);
    const texts = lines.map((t, i) => g.appendChild(s("text", { x: mid, y: ly + i * 14, "text-anchor": "middle" }, t)));
    g.setAttribute("data-401", String(f.unauthorized));
    g.setAttribute("data-403", String(f.forbidden));
    // The success rate and p99 line (the second), clickable for the edge's traces.
    edgeTraces(g, e, f.requests === 0 ? null : texts[1]);
    svg.append(g);
  }
  for (const n of v.nodes) {
    const p = pos[n.id];
    const down = n.ready === false;
    const g = s("g", { class: down ? "node down" : "node", transform: `translate(${p.x - p.w / 2},${p.y - NODE_H / 2})`, "data-node": n.id });
    g.append(s("rect", { width: p.w, height: NODE_H, rx: 8 }));
    g.append(s("text", { class: "name", x: 10, y: 22 }, n.column === 0 ? n.label : short(n.label)));
    g.append(s("text", { class: "detail", x: 10, y: 41 }, n.detail));
    if (n.ready !== undefined) {
      // Instances ready / replicas ("2/2"), as `kubectl get deploy` shows READY.
      const count = n.instances ? ` ${n.instances.ready}/${n.instances.total}` : "";
      const state = s("text", { class: "state", x: p.w - 9, y: 41, "text-anchor": "end", fill: down ? COLOURS.bad : COLOURS.ok }, (down ? "DOWN" : "up") + count);
      if (n.instances) state.setAttribute("data-instances", `${n.instances.ready}/${n.instances.total}`);
      g.append(state);
    }
    if (n.ejected > 0) {
      // Outlier detection (the gateway's ejections_active) keeps this many instances out.
      const of = n.instances ? ` of ${n.instances.total}` : "";
      // Above the node, right-aligned: inside it are the name and state, under it the sidecar.
      const mark = s("text", { class: "ejected", x: p.w - 4, y: -5, "text-anchor": "end", fill: COLOURS.warn, "data-ejected": String(n.ejected) }, `${n.ejected}${of} ejected`);
      mark.append(s("title", {}, "ejected by the gateway's outlier detection (outlier_detection.ejections_active)"));
      g.append(mark);
    }
    if (n.sidecar) sidecarTab(g, p.w, n.sidecar);
    if (n.nodeProxy) nodeProxyTab(g, p.w, n.nodeProxy);
    if (n.waypoint) waypointTab(g, p.w, n.waypoint);
    svg.append(g);
  }
}

/** A workload's sidecar: a tab under its node, its Envoy up or DOWN and its inbound's mTLS mode. */
function sidecarTab(g, w, sc) {
  const colour = sc.ready ? COLOURS.ok : COLOURS.bad;
  const tab = s("g", { class: "sidecar", "data-sidecar": sc.ready ? "up" : "down", "data-mtls": sc.mtls });
  tab.append(s("title", {}, `sidecar Envoy ${sc.ready ? "ready" : "not ready"} (admin /ready); inbound mTLS ${sc.mtls}`));
  // Under the node: above it are the straight edges' labels.
  const y = NODE_H + 1;
  tab.append(s("rect", { x: 8, y, width: w - 16, height: 17, rx: 5 }));
  tab.append(s("circle", { cx: 17, cy: y + 8.5, r: 3.5, fill: colour }));
  tab.append(s("text", { x: 25, y: y + 12.5 }, `sidecar${sc.ready ? "" : " DOWN"} · ${sc.mtls}`));
  g.append(tab);
}

/** A tab under a node: a dot (up or down) and a line; `title` on hover. */
function tab(g, w, cls, up, text, title, data) {
  const t = s("g", { class: "tab " + cls, "data-up": up ? "up" : "down", ...data });
  t.append(s("title", {}, title));
  const y = NODE_H + 1;
  t.append(s("rect", { x: 8, y, width: w - 16, height: 17, rx: 5 }));
  t.append(s("circle", { cx: 17, cy: y + 8.5, r: 3.5, fill: up ? COLOURS.ok : COLOURS.bad }));
  t.append(s("text", { x: 25, y: y + 12.5 }, text));
  g.append(t);
}

/** Ambient mode: a node proxy (ztunnel's role), what it carries, mTLS over HBONE. */
function nodeProxyTab(g, w, np) {
  const pods = np.pods.length === 1 ? "1 pod" : `${np.pods.length} pods`;
  tab(g, w, "node-proxy", np.ready, `HBONE mTLS · ${pods}`,
    `node proxy ${np.nodes.join(", ")} ${np.ready ? "up" : "DOWN"} (/healthz): ${np.side} of ${np.workload}; carries ${np.pods.join(", ")}; mTLS over HBONE`,
    { "data-node-proxy": np.nodes.join(" "), "data-pods": np.pods.join(" "), "data-side": np.side });
}

/** Ambient mode: a waypoint Envoy, its HBONE port and identity. */
function waypointTab(g, w, wp) {
  tab(g, w, "waypoint", g.getAttribute("class") === "node", `HBONE :${wp.hbone} · mTLS`,
    `waypoint Envoy (admin :${wp.admin}) as ${wp.identity}: terminates HBONE, applies the L7 routes`,
    { "data-waypoint": wp.identity, "data-hbone": String(wp.hbone) });
}

// ---- traffic split ------------------------------------------------------------------
const routePanels = new Map();

function bar(parts) {
  const el = h("div", { class: "bar" });
  for (const [label, pct] of parts) {
    const span = h("span", { title: `${label} ${pct.toFixed(1)} %` }, `${label} ${pct.toFixed(0)} %`);
    span.style.width = Math.max(0, pct) + "%";
    el.append(span);
  }
  return el;
}

function routePanel(r) {
  const key = `${r.virtualService}/${r.route}`;
  let p = routePanels.get(key);
  if (p) return p;
  const sliders = r.destinations.map((d, i) => {
    const id = `w-${key}-${i}`.replace(/[^a-zA-Z0-9-]/g, "-");
    const input = h("input", { type: "range", min: 0, max: 100, step: 1, id, value: d.weight });
    const out = h("output", { for: id }, d.weight + " %");
    return { host: d.host, input, out, row: h("div", { class: "slider" }, h("label", { for: id, text: `${tiny(d.host)}${d.subset ? " " + d.subset : ""}`, title: d.host }), input, out) };
  });
  const setOut = () => sliders.forEach((sl) => { sl.out.textContent = sl.input.value + " %"; });
  sliders.forEach((sl) => sl.input.addEventListener("input", () => {
    p.dirty = true;
    if (sliders.length === 2) {
      const other = sliders.find((o) => o !== sl);
      other.input.value = 100 - Number(sl.input.value);
    }
    setOut();
    apply.disabled = false;
  }));
  const apply = h("button", { class: "primary", disabled: true, text: "Apply weights", "aria-label": `apply the weights of ${key}` });
  const reset = h("button", { text: "Back to the files", "aria-label": `clear the weight override of ${key}` });
  const bars = h("div", { class: "bars" });
  const section = h("div", { class: "route", "data-route": key },
    h("h3", {}, key, " ", h("span", { class: "tag" })), bars, ...sliders.map((x) => x.row), h("div", { class: "row" }, apply, reset));
  p = { section, sliders, bars, apply, reset, tag: section.querySelector(".tag"), dirty: false, setOut };
  apply.addEventListener("click", async () => {
    const weights = {};
    sliders.forEach((sl) => { weights[sl.host] = Number(sl.input.value); });
    apply.disabled = true;
    if (await send("PUT", "/api/weights", { virtualService: r.virtualService, route: r.route, weights })) p.dirty = false;
    else apply.disabled = false;
  });
  reset.addEventListener("click", async () => {
    if (await send("PUT", "/api/weights", { virtualService: r.virtualService, route: r.route, weights: null })) p.dirty = false;
  });
  routePanels.set(key, p);
  return p;
}

function renderRoutes(v) {
  const box = $("routes");
  if (!v.routes.length) {
    box.replaceChildren(h("p", { class: "muted" }, v.meshUp ? "no weighted route in the mesh's configuration" : "kyc-mesh up does not answer"));
    return;
  }
  keep(box, v.routes.map((r) => {
    const p = routePanel(r);
    p.tag.textContent = r.overridden ? "runtime override" : "from networking/";
    p.tag.className = r.overridden ? "tag on" : "tag";
    p.reset.disabled = !r.overridden;
    const observed = r.destinations.every((d) => d.observedPercent === null) ? null : r.destinations;
    p.bars.replaceChildren(
      h("span", { class: "muted" }, "weights"), bar(r.destinations.map((d) => [tiny(d.host), d.weight])),
      h("span", { class: "muted" }, "observed"),
      observed ? bar(observed.map((d) => [tiny(d.host), d.observedPercent || 0])) : h("span", { class: "muted" }, "no requests in the window"));
    if (!p.dirty && !p.sliders.some((sl) => sl.input === document.activeElement)) {
      r.destinations.forEach((d, i) => { if (p.sliders[i]) p.sliders[i].input.value = d.weight; });
      p.setOut();
      p.apply.disabled = true;
    }
    return p.section;
  }));
}

// ---- versions -----------------------------------------------------------------------
function renderVersions(v) {
  $("versions").tBodies[0].replaceChildren(...v.versions.map((x) => h("tr", { "data-host": x.host },
    h("td", { title: x.host }, tiny(x.host), " ", h("span", { class: "tag" }, x.version)),
    h("td", {}, h("span", { class: x.ready ? "verdict-pass" : "verdict-fail" }, x.ready ? "ready" : "down"),
      x.ejected > 0 ? h("span", { class: "ejected", title: "ejected by the gateway's outlier detection" }, ` · ${x.ejected} ejected`) : null),
    h("td", { class: "num", "data-rps": x.figures.rps.toFixed(2) }, fmt.rps(x.figures)),
    h("td", { class: "num" }, fmt.ok(x.figures)), h("td", { class: "num" }, fmt.p99(x.figures)))));
}

// ---- canary -------------------------------------------------------------------------
let canaryForm = null;
function numberField(id, label, value, attrs) {
  return [h("label", { for: id, text: label }), h("input", Object.assign({ type: "number", id, value }, attrs || {}))];
}
function canaryControls() {
  if (canaryForm) return canaryForm;
  const fields = h("div", { class: "form" },
    ...numberField("c-step", "step weight (%)", 10, { min: 1, max: 100 }),
    ...numberField("c-interval", "interval (s)", 10, { min: 1, max: 600 }),
    ...numberField("c-threshold", "failed checks before rollback", 2, { min: 1, max: 20 }),
    ...numberField("c-success", "min success rate (%)", 99, { min: 0, max: 100, step: 0.1 }),
    ...numberField("c-p99", "max p99 (ms)", 500, { min: 1 }),
    ...numberField("c-rps", "traffic during the run (req/s)", 20, { min: 0, max: 1000 }));
  const start = h("button", { class: "primary", text: "Start canary" });
  const promote = h("button", { text: "Promote" });
  const abort = h("button", { class: "danger", text: "Abort (roll back)" });
  const val = (id) => Number($(id).value);
  start.addEventListener("click", () => {
    const spec = { stepWeight: val("c-step"), intervalMs: Math.round(val("c-interval") * 1000), threshold: val("c-threshold"),
      minSuccessRate: val("c-success"), maxP99Ms: val("c-p99") };
    if (val("c-rps") > 0) spec.loadRps = val("c-rps");
    send("POST", "/api/canary", spec);
  });
  promote.addEventListener("click", () => send("POST", "/api/canary/promote"));
  abort.addEventListener("click", () => send("POST", "/api/canary/abort"));
  canaryForm = { fields, start, promote, abort, status: h("div"), checks: h("div"), report: h("p", { class: "row report-links" }) };
  canaryForm.box = h("div", {}, canaryForm.status, canaryForm.checks, canaryForm.report, h("details", {}, h("summary", {}, "parameters"), fields), h("div", { class: "row" }, start, promote, abort));
  return canaryForm;
}

function figuresCells(f) {
  return [h("td", { class: "num" }, String(f.requests)), h("td", { class: "num" }, f.successRate === null ? "–" : f.successRate.toFixed(1) + " %"),
    h("td", { class: "num" }, f.p99Ms === null ? "–" : f.p99Ms + " ms")];
}

function renderCanary(v) {
  const c = canaryControls();
  const st = v.canary;
  const running = st && !["promoted", "rolled-back"].includes(st.phase);
  c.start.disabled = !!running;
  c.promote.disabled = !running;
  c.abort.disabled = !running;
  if (!st) {
    c.status.replaceChildren(h("p", { class: "muted" }, "no canary has run; start one to move the weight step by step while the checks pass"));
  } else {
    c.status.replaceChildren(
      h("div", {}, h("span", { class: "phase" }, st.phase), " ", h("span", { class: "muted" }, `${tiny(st.stable)} → ${tiny(st.canary)}`)),
      h("div", {}, `canary weight ${st.weight} % · failed checks ${st.failedChecks} / ${st.spec.threshold}`),
      h("p", { class: "muted" }, st.message));
  }
  const checks = v.checks.slice(-6).reverse();
  c.checks.replaceChildren(checks.length ? h("table", {},
    h("thead", {}, h("tr", {}, ...["#", "weight", "version", "req", "success", "p99", "verdict"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...checks.flatMap((k) => [
      h("tr", { title: k.reason }, h("td", { rowspan: 2 }, String(k.n)), h("td", { rowspan: 2 }, k.weight + " %"), h("td", {}, "stable"), ...figuresCells(k.stable),
        h("td", { rowspan: 2, class: "verdict-" + k.verdict }, k.verdict)),
      h("tr", { title: k.reason }, h("td", {}, "canary"), ...figuresCells(k.canary))]))) : "");
  c.report.hidden = !st;
  c.report.replaceChildren(...(st ? reportLinks() : []));
  if (!c.box.isConnected) $("canary").replaceChildren(c.box);
}

// ---- chaos --------------------------------------------------------------------------
const chaosPanels = new Map();
function renderChaos(v) {
  const box = $("chaos");
  const panels = v.versions.map((x) => {
    let p = chaosPanels.get(x.host);
    if (!p) {
      const id = "chaos-" + x.host;
      const rate = h("input", { type: "number", id: id + "-rate", min: 0, max: 100, step: 5, value: 0 });
      const delay = h("input", { type: "number", id: id + "-delay", min: 0, max: 60000, step: 50, value: 0 });
      const apply = h("button", { class: "primary", text: "Apply", "aria-label": `apply chaos to ${x.host}` });
      const off = h("button", { text: "Off", "aria-label": `chaos off on ${x.host}` });
      const tag = h("span", { class: "tag" });
      // Which instance: every one (the default), or one of `<workload>-0`, `-1`, … (shown
      // when the workload has more than one).
      const pick = h("select", { id: id + "-instance" });
      const pickLabel = h("label", { for: pick.id, text: "instance" });
      const target = () => "/api/chaos/" + encodeURIComponent(x.host) + (pick.value ? "?instance=" + encodeURIComponent(pick.value) : "");
      apply.addEventListener("click", () => send("PUT", target(),
        { errorRate: Number(rate.value) / 100, delayMs: Number(delay.value) }));
      off.addEventListener("click", () => send("DELETE", target()));
      p = { tag, rate, delay, pick, pickLabel, total: -1, section: h("div", { class: "scorer" }, h("h3", {}, "chaos on ", tiny(x.host), " ", tag),
        h("div", { class: "form" }, pickLabel, pick, h("label", { for: rate.id, text: "errors (% of requests)" }), rate,
          h("label", { for: delay.id, text: "delay (ms)" }), delay), h("div", { class: "row" }, apply, off)) };
      chaosPanels.set(x.host, p);
    }
    const node = v.nodes.find((n) => n.id === x.host);
    const total = node && node.instances ? node.instances.total : 1;
    if (total !== p.total) {
      const chosen = p.pick.value;
      const names = Array.from({ length: total }, (_, i) => `${x.host}-${i}`);
      p.pick.replaceChildren(h("option", { value: "", text: "all instances" }), ...names.map((n, i) => h("option", { value: n, text: `instance ${i}`, title: n })));
      p.pick.value = names.includes(chosen) ? chosen : "";
      p.pick.hidden = p.pickLabel.hidden = total <= 1;
      p.total = total;
    }
    const c = v.chaos[x.host];
    p.tag.textContent = c ? `on: ${Math.round(c.errorRate * 100)} % errors, ${c.delayMs} ms` : "off";
    p.tag.className = c ? "tag on" : "tag";
    return p.section;
  });
  keep(box, panels);
}

// ---- scenario and load --------------------------------------------------------------
let scenarioForm = null;
function renderScenario(v) {
  if (!scenarioForm) {
    const select = h("select", { id: "scenario-pick" });
    const use = h("button", { class: "primary", text: "Use scenario" });
    use.addEventListener("click", () => send("POST", "/api/scenario", { scenario: select.value === "" ? null : select.value }));
    const traffic = h("input", { type: "checkbox", id: "load-on" });
    const rps = h("input", { type: "number", id: "load-rps", min: 1, max: 1000, value: 20 });
    const sendLoad = () => send("PUT", "/api/load", { rps: traffic.checked ? Number(rps.value) : 0 });
    traffic.addEventListener("change", sendLoad);
    rps.addEventListener("change", () => { if (traffic.checked) sendLoad(); });
    const counters = h("p", { class: "muted" });
    scenarioForm = { select, traffic, rps, counters, current: h("p", {}), auth: h("p", { id: "auth" }) };
    $("scenario").replaceChildren(scenarioForm.current, scenarioForm.auth,
      h("div", { class: "form" }, h("label", { for: "scenario-pick", text: "scenario" }), select), h("div", { class: "row" }, use),
      h("h3", {}, "Send traffic"),
      h("div", { class: "form" }, h("label", { for: "load-on", text: "load generator on" }), traffic,
        h("label", { for: "load-rps", text: "requests per second" }), rps), counters);
  }
  const f = scenarioForm;
  f.current.textContent = "in use: " + (v.scenario || "none (networking/ only)");
  // The RequestAuthentication in force at the KYC API (who may ask for a report).
  const a = v.auth;
  f.auth.dataset.auth = a ? "jwt" : "none";
  f.auth.textContent = a
    ? `end-user auth: ${a.workload}'s sidecar verifies JWTs of ${a.issuers.join(", ")}` +
      (a.audiences.length ? ` (audience ${a.audiences.join(", ")})` : "") +
      (a.demoTokens ? "; kyc-mesh token is accepted and the load generator sends a demo token" : "")
    : "end-user auth: none (no RequestAuthentication: anyone may ask for a report)";
  const names = ["", ...v.scenarios];
  if (f.select.options.length !== names.length && document.activeElement !== f.select) {
    f.select.replaceChildren(...names.map((n) => h("option", { value: n }, n || "none (networking/ only)")));
    f.select.value = v.scenario && v.scenarios.includes(v.scenario) ? v.scenario : "";
  }
  if (document.activeElement !== f.traffic) f.traffic.checked = v.load.rps > 0;
  f.counters.textContent = v.load.rps > 0 || v.load.sent > 0
    ? `${v.load.rps > 0 ? v.load.rps + " req/s" : "stopped"} · sent ${v.load.sent} · ok ${v.load.ok} · failed ${v.load.failed}` +
      (v.load.injected ? ` (${v.load.injected} injected by chaos)` : "") : "the load generator is stopped";
}

// ---- events and the whole page ------------------------------------------------------
function renderEvents(v) {
  $("events").replaceChildren(...(v.events.length ? v.events : [{ atMs: 0, text: "no event yet", bad: false, kind: "" }]).map((e) =>
    h("li", { class: e.bad ? "bad" : null, "data-kind": e.kind },
      e.atMs ? h("time", { datetime: new Date(e.atMs).toISOString() }, new Date(e.atMs).toLocaleTimeString()) : null, e.text)));
}

function status(text, ok) {
  const el = $("status");
  el.textContent = text;
  el.className = "pill " + (ok === true ? "pill-ok" : ok === false ? "pill-bad" : "pill-wait");
}

function render(v) {
  last = v;
  const parts = [renderGraph, renderRoutes, renderVersions, renderCanary, renderChaos, renderScenario, renderEvents];
  for (const part of parts) {
    try { part(v); } catch (e) { console.error(part.name, e); }
  }
  $("window").textContent = v.windowSeconds > 0 ? `· last ${Math.round(v.windowSeconds)} s` : "· collecting…";
  $("updated").textContent = v.updatedMs ? "updated " + new Date(v.updatedMs).toLocaleTimeString() : "";
  if (REPLAY) replayStatus();
  else if (!v.envoyUp) status("Envoy down", false);
  else if (!v.meshUp) status("kyc-mesh up busy or stopped", false);
  else status("live", true);
}

/** The first render from GET /api/state, then live updates from the event stream, opened a
 *  second later (the collector's period: nothing is missed). */
async function start() {
  if (REPLAY) return startReplay();
  tracesEvery(2000);
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    render(await r.json());
  } catch (e) {
    status("dashboard unreachable", false);
  }
  setTimeout(() => {
    const events = new EventSource("/api/events");
    events.addEventListener("state", (m) => { try { render(JSON.parse(m.data)); } catch (e) { console.error(e); } });
    events.onerror = () => status("reconnecting…", false);
  }, 1000);
}

// ---- traces (the receiver of `kyc-mesh up`: GET /api/traces, /api/traces/{id}) -------------
const tf = { errors: false, minMs: "", version: "", from: null, to: null, sort: "recent", selected: null, busy: false, hover: false, seq: 0, shownFilters: null };
let traceUi = null;

/** The report of the canary shown (or, in a replay, as it was at the slider's time). */
function reportLinks() {
  const at = REPLAY ? `?at=${Math.round(replay.at)}` : "";
  return [h("a", { href: "/api/canary/report.html" + at, download: "canary-report.html" }, "download the report (HTML)"),
    h("a", { href: "/api/canary/report.json" + at, download: "canary-report.json" }, "JSON")];
}

/** An edge of the graph: one click on its p99 → its slowest traces, on its success rate → its failing ones. */
function edgeTraces(g, e, figures) {
  const name = `${e.from} → ${e.to}`;
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.setAttribute("aria-label", `traces on ${name}: slowest first (Enter), failing (Shift+Enter)`);
  g.append(s("title", {}, `${name}: click the p99 for the slowest traces, the success rate for the failing ones`));
  if (figures) {
    const [ok, p99] = figures.textContent.split(" · ");
    figures.replaceChildren(s("tspan", { "data-pick": "errors" }, ok), s("tspan", {}, " · "), s("tspan", { "data-pick": "slowest" }, p99));
  }
  const pick = (errors) => showEdgeTraces(e.from, e.to, errors);
  g.addEventListener("click", (ev) => pick(ev.target.getAttribute && ev.target.getAttribute("data-pick") === "errors"));
  g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); pick(ev.shiftKey); } });
}

function showEdgeTraces(from, to, errors) {
  Object.assign(tf, { from, to, errors, sort: errors ? "recent" : "slowest", selected: null });
  traceControls();
  syncTraceControls();
  refreshTraces(true);
  $("traces-card").scrollIntoView({ behavior: "smooth", block: "start" });
}

function traceControls() {
  if (traceUi) return traceUi;
  const errors = h("input", { type: "checkbox", id: "t-errors" });
  const minMs = h("input", { type: "number", id: "t-min", min: 0, step: 10, placeholder: "any" });
  const version = h("select", { id: "t-version" }, h("option", { value: "" }, "any"));
  const sort = h("select", { id: "t-sort" }, h("option", { value: "recent" }, "newest first"), h("option", { value: "slowest" }, "slowest first"));
  const edge = h("span", { class: "tag on", hidden: true });
  const list = h("table", { id: "trace-list" },
    h("thead", {}, h("tr", {}, ...["time", "entry", "status", "duration", "served by", "spans", "trace id"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody"));
  const note = h("p", { class: "muted", id: "traces-note" });
  const waterfall = h("div", { id: "waterfall", "aria-live": "polite" });
  list.addEventListener("mouseenter", () => { tf.hover = true; });
  list.addEventListener("mouseleave", () => { tf.hover = false; });
  const changed = () => { tf.errors = errors.checked; tf.minMs = minMs.value; tf.version = version.value; tf.sort = sort.value; refreshTraces(true); };
  [errors, version, sort].forEach((el) => el.addEventListener("change", changed));
  minMs.addEventListener("change", changed);
  traceUi = { errors, minMs, version, sort, edge, list, note, waterfall, listed: null };
  $("traces").replaceChildren(
    h("div", { class: "filters" },
      h("label", { for: "t-errors" }, errors, " errors only"),
      h("label", { for: "t-min" }, "slower than (ms) "), minMs,
      h("label", { for: "t-version" }, "version "), version,
      h("label", { for: "t-sort" }, "order "), sort, edge),
    list, note, waterfall);
  return traceUi;
}

function syncTraceControls() {
  const u = traceControls();
  u.errors.checked = tf.errors;
  u.minMs.value = tf.minMs;
  u.sort.value = tf.sort;
  if (tf.from) {
    u.edge.hidden = false;
    u.edge.replaceChildren(`edge ${tf.from} → ${tf.to} `, h("button", { "aria-label": "clear the edge filter", onclick: () => { tf.from = tf.to = null; syncTraceControls(); refreshTraces(true); } }, "×"));
  } else {
    u.edge.hidden = true;
  }
}

/** The list's filters as a query (what the user chose; a replay adds its time). */
function traceFilters() {
  const q = new URLSearchParams();
  if (tf.errors) q.set("errors", "true");
  if (tf.minMs !== "" && Number(tf.minMs) >= 0) q.set("minMs", tf.minMs);
  if (tf.version) q.set("version", tf.version);
  if (tf.from) { q.set("from", tf.from); q.set("to", tf.to); }
  q.set("sort", tf.sort);
  q.set("limit", "30");
  return q.toString();
}

function tracesQuery() {
  const q = new URLSearchParams(traceFilters());
  if (REPLAY) q.set("until", String(Math.round(replay.at)));
  return q.toString();
}

const ms = (x) => (x >= 1000 ? (x / 1000).toFixed(2) + " s" : x >= 10 ? x.toFixed(0) + " ms" : x.toFixed(1) + " ms");

async function refreshTraces(force) {
  // Rows do not move under the pointer: the list waits while it is hovered.
  if (!force && (tf.busy || tf.hover)) return;
  const seq = ++tf.seq;
  const query = tracesQuery();
  const filters = traceFilters();
  // New filters: the rows of the old ones go at once (a click must not pick one of them).
  if (tf.shownFilters !== null && filters !== tf.shownFilters) {
    tf.shownFilters = null;
    traceControls().list.tBodies[0].replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "loading…")));
  }
  tf.busy = true;
  try {
    const r = await fetch("/api/traces?" + query, { cache: "no-store" });
    const a = await r.json();
    // A later query went out meanwhile (new filters: its answer is the one to show), or the
    // pointer came onto the list while this answer was on its way.
    if (seq !== tf.seq || (!force && tf.hover)) return;
    tf.shownFilters = filters;
    renderTraceList(a);
    if (tf.selected && force) showTrace(tf.selected, true);
  } catch (e) {
    console.error(e);
  } finally {
    tf.busy = false;
  }
}

/** `#trace=<id>` (a report's link) opens that trace's waterfall. */
function traceFromHash() {
  const m = /^#trace=([0-9a-f]{32})$/.exec(location.hash);
  if (m) { showTrace(m[1]); $("traces-card").scrollIntoView({ block: "start" }); }
}
window.addEventListener("hashchange", traceFromHash);

function tracesEvery(period) {
  traceControls();
  refreshTraces(true);
  traceFromHash();
  setInterval(() => {
    if (document.hidden) return;
    refreshTraces(false);
    // The trace shown may still be arriving: its last spans and access-log lines come within
    // seconds (later on a loaded machine); redrawn only when it changed.
    if (tf.selected) showTrace(tf.selected, true);
  }, period);
}

function renderTraceList(a) {
  const u = traceControls();
  u.listed = a;
  if (!a.receiver) {
    u.list.tBodies[0].replaceChildren();
    u.note.textContent = a.note || "no traces";
    $("traces-count").textContent = "";
    return;
  }
  const versions = ["", ...new Set((last ? last.versions : []).map((x) => x.version))];
  if (u.version.options.length !== versions.length) {
    u.version.replaceChildren(...versions.map((x) => h("option", { value: x }, x || "any")));
    u.version.value = tf.version;
  }
  const edge = tf.from !== null;
  u.list.tBodies[0].replaceChildren(...a.traces.map((t) => {
    const row = h("tr", { "data-trace": t.traceId, class: t.traceId === tf.selected ? "selected" : null, tabindex: "0",
        "aria-label": `trace ${t.traceId}: ${t.entry}, ${ms(t.durationMs)}` },
      h("td", {}, h("time", { datetime: new Date(t.startMs).toISOString() }, new Date(t.startMs).toLocaleTimeString())),
      h("td", {}, t.entry),
      h("td", { class: (t.error || t.edgeError) ? "bad" : null }, `${t.status ?? "–"}${t.error ? " · failed hop" : ""}`),
      h("td", { class: "num" }, ms(edge && t.edgeMs !== undefined && t.edgeMs !== null ? t.edgeMs : t.durationMs) + (edge && t.edgeMs != null ? " on the edge" : "")),
      h("td", {}, t.servedBy.map(tiny).join(", ") + (t.versions.length ? ` (${t.versions.join(", ")})` : "")),
      h("td", { class: "num" }, String(t.spans)),
      h("td", { class: "trace-ids" }, t.traceId.slice(0, 12) + "…"));
    const open = () => showTrace(t.traceId);
    row.addEventListener("click", open);
    row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
    return row;
  }));
  const st = a.receiver;
  $("traces-count").textContent = `· ${a.matched} matching`;
  u.note.textContent = a.note ? `${st.traces} traces recorded: ${a.note}`
    : `receiver: ${st.traces} traces kept (at most ${st.maxTraces}, ${(st.maxBytes / 1048576).toFixed(0)} MiB), `
    + `${st.tracesDropped} dropped as the oldest, ${st.spansReceived} spans received, `
    + `${st.payloadsRejected + st.payloadsTooLarge} bad payloads refused, ${st.spansRejected} spans refused`;
  u.note.dataset.rejected = String(st.payloadsRejected + st.payloadsTooLarge);
  if (!a.traces.length) u.list.tBodies[0].replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "no trace matches (requests show here within a second)")));
}

/** One trace's waterfall; `again`: the same trace refreshed (redrawn only when it grew). */
async function showTrace(id, again) {
  tf.selected = id;
  for (const tr of traceControls().list.tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.trace === id);
  const box = traceUi.waterfall;
  let d;
  try {
    const r = await fetch("/api/traces/" + encodeURIComponent(id), { cache: "no-store" });
    d = await r.json();
    if (!r.ok) { if (!again) box.replaceChildren(h("p", { class: "muted" }, d.error || r.statusText)); return; }
  } catch (e) {
    if (!again) box.replaceChildren(h("p", { class: "muted" }, "the dashboard is not reachable: " + e));
    return;
  }
  const size = `${d.traceId} ${d.spans.length} ${d.spans.reduce((n, sp) => n + (sp.accessLog || []).length, 0)}`;
  if (again && box.dataset.size === size) return;
  box.dataset.size = size;
  const open = new Set([...box.querySelectorAll("details[open]")].map((el) => el.dataset.span));
  const total = Math.max(d.durationMs, 0.001);
  box.replaceChildren(
    h("h3", {}, `trace ${d.traceId} · ${d.entry} · ${d.status ?? "–"} · ${ms(d.durationMs)} · ${d.spans.length} spans `,
      h("a", { href: "/api/traces/" + d.traceId }, "JSON")),
    ...d.spans.map((sp) => {
      const bar = h("i", { class: sp.error ? "bad" : (["ingress", "mesh-route", "sidecar-inbound", "sidecar-outbound", "waypoint"].includes(sp.hop.kind) ? "proxy" : null) });
      bar.style.left = (100 * sp.offsetMs / total).toFixed(2) + "%";
      bar.style.width = Math.max(0.3, 100 * sp.durationMs / total).toFixed(2) + "%";
      const el = h("details", { class: "wf-span", "data-span": sp.spanId, "data-hop": sp.hop.kind, "data-error": sp.error ? "true" : "false", open: open.has(sp.spanId) },
        h("summary", {},
          h("span", { class: "wf-label", title: `${sp.label} — ${sp.service} · ${sp.name} (${sp.kind})` }, sp.label.replace(/kyc-credit-check-|kyc-/g, ""), sp.status ? ` · ${sp.status}` : ""),
          h("span", { class: "wf-bar" }, bar),
          h("span", { class: "wf-ms" }, ms(sp.durationMs)),
          ...(sp.accessLog || []).map((l) => h("code", { class: "wf-log", "data-access-log": "" }, l))),
        h("table", { class: "wf-attrs" }, h("tbody", {},
          h("tr", {}, h("td", {}, "span"), h("td", { class: "trace-ids" }, `${sp.spanId} (${sp.kind}) ${sp.name}`)),
          ...sp.attributes.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v))),
          sp.hiddenAttributes ? h("tr", {}, h("td", {}, "not shown"), h("td", { class: "muted" }, `${sp.hiddenAttributes} attributes (only method, route, status, cluster and flags are kept)`)) : null)));
      el.style.setProperty("--depth", sp.depth);
      return el;
    }),
    ...(d.otherAccessLog || []).map((l) => h("code", { class: "wf-log" }, l)));
}

// ---- replay (`kyc-mesh replay DIR`): a time slider, pause and speed over a recording ------
const replay = { startMs: 0, endMs: 0, at: 0, playing: true, speed: 1, wall: 0, fetched: -1, busy: false, dir: "" };

function replayStatus() {
  const el = $("status");
  el.textContent = "replay · read-only";
  el.className = "pill pill-replay";
  $("updated").textContent = "at " + new Date(replay.at).toLocaleString();
}

async function startReplay() {
  let meta;
  try {
    meta = await (await fetch("/api/replay", { cache: "no-store" })).json();
  } catch (e) {
    status("replay unreachable", false);
    return;
  }
  // Whole seconds from the start, the last one at or after the recording's end.
  const end = meta.startMs + Math.ceil((meta.endMs - meta.startMs) / 1000) * 1000;
  Object.assign(replay, { startMs: meta.startMs, endMs: end, at: meta.startMs, dir: meta.dir, wall: performance.now() });
  const slider = h("input", { type: "range", id: "replay-at", min: meta.startMs, max: end, step: 1000, value: meta.startMs });
  const play = h("button", { id: "replay-play", "aria-label": "play or pause the replay" }, "pause");
  const speed = h("select", { id: "replay-speed" }, ...[1, 2, 5, 10, 30, 60].map((x) => h("option", { value: x }, x + "×")));
  const clock = h("output", { for: "replay-at", id: "replay-clock" });
  const bar = $("replay-bar");
  bar.replaceChildren(play, h("label", { for: "replay-at" }, "time"), slider, clock, h("label", { for: "replay-speed" }, "speed"), speed);
  bar.hidden = false;
  replay.ui = { slider, play, speed, clock };
  play.addEventListener("click", () => { replay.playing = !replay.playing; if (replay.at >= replay.endMs) replay.at = replay.startMs; replay.wall = performance.now(); });
  speed.addEventListener("change", () => { replay.speed = Number(speed.value); });
  // Seeking pauses, shown at once (not at the next tick: a loaded machine may run it late).
  slider.addEventListener("input", () => { replay.at = Number(slider.value); replay.playing = false; play.textContent = "play"; replayFetch(true); });
  traceControls();
  await replayFetch(true);
  traceFromHash();
  setInterval(replayTick, 250);
}

function replayTick() {
  const now = performance.now();
  if (replay.playing) {
    replay.at = Math.min(replay.endMs, replay.at + (now - replay.wall) * replay.speed);
    if (replay.at >= replay.endMs) replay.playing = false;
  }
  replay.wall = now;
  const u = replay.ui;
  u.play.textContent = replay.playing ? "pause" : "play";
  if (document.activeElement !== u.slider) u.slider.value = String(Math.round(replay.at));
  u.clock.textContent = `${new Date(replay.at).toLocaleTimeString()} (${Math.round((replay.at - replay.startMs) / 1000)} s of ${Math.round((replay.endMs - replay.startMs) / 1000)} s)`;
  replayFetch(false);
}

/** The recorded state at the slider's time (and the traces up to it), at most once per
 *  recorded second. */
async function replayFetch(force) {
  const second = Math.floor(replay.at / 1000);
  if (replay.busy || (!force && second === replay.fetched)) return;
  replay.busy = true;
  replay.fetched = second;
  try {
    const v = await (await fetch(`/api/state?at=${Math.round(replay.at)}`, { cache: "no-store" })).json();
    render(v);
    refreshTraces(force);
  } catch (e) {
    console.error(e);
  } finally {
    replay.busy = false;
  }
  // A recording is read-only: every control but the replay's and the traces' filters is off.
  for (const el of document.querySelectorAll("main button, main input, main select, main textarea")) {
    if (!el.closest("#traces-card")) el.disabled = true;
  }
}

start();
