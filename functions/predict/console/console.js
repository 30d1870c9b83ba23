// The review console: reads the JSON routes (same origin, the session cookie) and draws
// pipelines, versions, one version, and two versions compared; promote, approve, refuse
// and roll back post a reason. Text goes in as text nodes only, never as markup.

const view = document.getElementById("view");
let me = { name: "", roles: [] };

// el("td", {class: "num"}, "0.81") -> <td class="num">0.81</td>
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const num = (x, d = 4) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %");
const enc = encodeURIComponent;

async function api(path, options = {}) {
  const r = await fetch(path, { headers: { accept: "application/json" }, ...options });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(body.message || `${r.status} ${r.statusText}`);
    e.status = r.status;
    throw e;
  }
  return body;
}

function table(head, rows, numeric = []) {
  return el("table", {},
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) =>
      c instanceof Node && c.tagName === "TD" ? c : el("td", { class: numeric.includes(i) ? "num" : null }, c))))));
}

function badge(text, cls) {
  return el("span", { class: `badge ${cls || text}` }, text);
}

function status(v) {
  const out = [];
  if (v.champion) out.push(badge("champion"));
  if (v.challenger) out.push(badge("challenger"));
  if (v.review) out.push(badge(v.review.status));
  return out;
}

function gate(v) {
  if (v.gate_passed === null || v.gate_passed === undefined) return "–";
  return badge(v.gate_passed ? "passed" : "failed");
}

function fairness(v) {
  const f = v.fairness;
  if (f.lowest_ratio === null || f.lowest_ratio === undefined) return "not measured";
  const text = `lowest ratio ${num(f.lowest_ratio, 3)} (${f.group})`;
  if (f.passed === null || f.passed === undefined) return text;
  return el("span", {}, badge(f.passed ? "passed" : "failed"), " ", text);
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.flatMap((p, i) => (i ? [" / ", p] : [p])));
}

function link(href, text) {
  return el("a", { href }, text);
}

// --- views -------------------------------------------------------------------------

async function pipelines() {
  crumbs();
  const { pipelines } = await api("/v1/pipelines");
  const rows = [];
  for (const p of pipelines) {
    const l = await api(`/v1/pipelines/${enc(p.pipeline)}/versions`);
    const champion = l.versions.find((v) => v.champion);
    const latest = l.versions[0];
    const pending = l.versions.filter((v) => v.review && v.review.status === "pending").length;
    const brief = (v) => (v ? `${v.version} · ${v.family} · test AUC ${num(v.test.roc_auc, 3)} · KS ${num(v.test.ks, 3)}` : "none");
    rows.push([link(`#/p/${enc(p.pipeline)}`, p.pipeline), brief(champion), brief(latest), String(l.versions.length), pending ? badge(`${pending} pending`, "pending") : "–"]);
  }
  view.replaceChildren(el("h1", {}, "Pipelines"),
    table(["pipeline", "champion", "latest version", "versions", "review"], rows, [3]));
}

async function versions(p) {
  crumbs(link(`#/p/${enc(p)}`, p));
  const l = await api(`/v1/pipelines/${enc(p)}/versions`);
  const picked = new Set();
  const compareButton = el("button", { disabled: true, onclick: () => {
    const [a, b] = [...picked];
    location.hash = `#/p/${enc(p)}/compare/${enc(a)}/${enc(b)}`;
  } }, "Compare the two selected");
  const pick = (v) => el("input", { type: "checkbox", "aria-label": `select ${v}`, onchange: (e) => {
    e.target.checked ? picked.add(v) : picked.delete(v);
    compareButton.disabled = picked.size !== 2;
  } });
  const rows = l.versions.map((v) => [pick(v.version), link(`#/p/${enc(p)}/v/${enc(v.version)}`, v.version), v.created_at, v.family,
    num(v.validation.roc_auc), num(v.test.roc_auc), num(v.validation.ks), num(v.test.ks), gate(v), fairness(v), el("span", {}, status(v))]);
  const history = [...l.champion_history, l.champion].filter(Boolean);
  const parts = [el("h1", {}, p),
    el("p", {}, "Champion: ", l.champion ? link(`#/p/${enc(p)}/v/${enc(l.champion)}`, l.champion) : "none",
      l.champion_since ? ` (since ${l.champion_since})` : "", l.challenger ? ` · challenger in shadow: ${l.challenger}` : ""),
    el("h2", {}, "Versions"),
    table(["", "version", "trained", "family", "val AUC", "test AUC", "val KS", "test KS", "gate", "fairness", "status"], rows, [4, 5, 6, 7]),
    compareButton,
    el("h2", {}, "Champion history"),
    history.length ? el("ol", {}, history.map((v) => el("li", {}, v))) : el("p", { class: "note" }, "No champion yet.")];
  if (me.roles.includes("owner") && l.champion_history.length) {
    parts.push(el("div", { class: "actions" }, actionForm("Roll back to the previous champion", `/v1/pipelines/${enc(p)}/rollback`)));
  }
  view.replaceChildren(...parts);
}

function actionForm(label, path, extra = null) {
  const reason = el("textarea", { name: "reason", required: true, "aria-label": `reason: ${label}`, placeholder: "Why (kept in the audit record)" });
  const out = el("p", { class: "note", role: "status" });
  const form = el("form", { onsubmit: async (e) => {
    e.preventDefault();
    out.textContent = "…";
    try {
      const body = { reason: reason.value, ...(extra ? extra() : {}) };
      const r = await api(path, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(body) });
      out.className = "note";
      out.textContent = describe(r);
      setTimeout(route, 600);
    } catch (err) {
      out.className = "error";
      out.textContent = err.message;
    }
  } }, el("label", {}, label), reason, el("button", { type: "submit" }, label), out);
  return form;
}

function describe(r) {
  if (r.outcome) {
    const o = r.outcome;
    if (o.status === "pending") return `${r.version} waits for approval (${o.approvals} of ${o.required}).`;
    if (o.status === "promoted" || o.status === "forced") return `${r.version} is now the champion.`;
    if (o.status === "refused_by_gate") return `The gate refused it: ${o.reason}`;
    if (o.status === "lost_race") return `Another change moved the champion first (now ${o.champion}).`;
  }
  if (r.review) return `${r.version} was refused.`;
  if (r.champion) return `${r.champion} is the champion again.`;
  return "Done.";
}

async function version(p, v) {
  crumbs(link(`#/p/${enc(p)}`, p), link(`#/p/${enc(p)}/v/${enc(v)}`, v));
  const [d, card] = await Promise.all([
    api(`/v1/pipelines/${enc(p)}/versions/${enc(v)}`),
    api(`/v1/pipelines/${enc(p)}/versions/${enc(v)}/card`).catch(() => null),
  ]);
  const drift = d.drift;
  const row = d.version;
  const parts = [el("h1", {}, `${p} · ${v} `, ...status(row)),
    table(["", "validation", "test"], [
      ["ROC AUC", num(d.metrics.validation.roc_auc), num(d.metrics.test.roc_auc)],
      ["KS", num(d.metrics.validation.ks), num(d.metrics.test.ks)],
      ["Gini", num(d.metrics.validation.gini), num(d.metrics.test.gini)],
      ["Brier", num(d.metrics.validation.brier), num(d.metrics.test.brier)],
      ["rows", String(d.metrics.validation.rows), String(d.metrics.test.rows)],
    ], [1, 2]),
    el("p", {}, "Family: ", d.model.family, " · gate: ", gate(row), row.gate_reason ? ` ${row.gate_reason}` : "", " · fairness: ", fairness(row)),
    el("h2", {}, "Review")];
  const r = row.review;
  if (r) {
    parts.push(el("p", {}, badge(r.status), ` proposed ${r.proposed_at} by ${r.makers.join(", ")}: ${r.reason}`,
      r.forced ? " (the gate refused it)" : ""),
    r.approvals.length ? table(["approved by", "at", "reason"], r.approvals.map((a) => [a.by, a.at, a.reason])) : el("p", { class: "note" }, `${r.approvals.length} of ${r.required} approvals.`),
    ...(r.refusal ? [el("p", {}, `Refused by ${r.refusal.by} at ${r.refusal.at}: ${r.refusal.reason}`)] : []));
  } else {
    parts.push(el("p", { class: "note" }, row.champion ? "The serving champion." : "Not proposed."));
  }
  const actions = el("div", { class: "actions" });
  if (!row.champion && me.roles.includes("owner") && !(r && r.status === "pending")) {
    actions.append(actionForm("Promote", `/v1/pipelines/${enc(p)}/versions/${enc(v)}/promote`));
  }
  if (r && r.status === "pending" && me.roles.includes("approver")) {
    actions.append(actionForm("Approve", `/v1/pipelines/${enc(p)}/versions/${enc(v)}/approve`));
  }
  if (r && r.status === "pending" && (me.roles.includes("approver") || me.roles.includes("owner"))) {
    actions.append(actionForm("Refuse", `/v1/pipelines/${enc(p)}/versions/${enc(v)}/refuse`));
  }
  parts.push(actions);
  if (card) {
    parts.push(el("h2", {}, "Reason codes"),
      table(["feature", "kind", "code", "text"], card.features.map((f) => [f.name, f.kind, f.reason_code, f.reason_text])));
    if (card.history && card.history.length) {
      parts.push(el("h2", {}, "History"),
        table(["at", "event", "detail", "by", "reason"], card.history.map((h) => [h.at, h.event, h.detail, h.by || "", h.reason || ""])));
    }
  }
  parts.push(el("h2", {}, "Drift of the last scored batch"));
  if (drift) {
    const band = (x) => el("span", {}, badge(x.band, x.band === "stable" ? "passed" : x.band === "act" ? "failed" : "pending"), ` ${num(x.index, 3)}`);
    parts.push(el("p", {}, `${drift.rows} rows compared ${drift.at}${drift.rows_failed ? ` (${drift.rows_failed} failed validation)` : ""}; `,
      drift.exceeded ? badge("above the threshold", "failed") : badge("within the threshold", "passed")),
    table(["", "stability index"], [["score (PSI)", band(drift.score)], ...drift.features.map((f) => [`${f.name} (CSI)`, band(f)])]));
  } else {
    parts.push(el("p", { class: "note" }, "No batch compared yet (riskfn drift keeps its report here)."));
  }
  parts.push(el("h2", {}, "Outcomes"));
  const outcomes = d.outcomes;
  if (outcomes && outcomes.versions && outcomes.versions.length) {
    const o = outcomes.versions[0];
    const light = (l) => badge(l, l === "green" ? "passed" : l === "red" ? "failed" : "pending");
    const p_ = (t) => (t ? `${t.p < 1e-4 ? t.p.toExponential(1) : num(t.p)} ${t.light}` : "–");
    parts.push(el("p", {}, `Back-tested ${outcomes.at} on ${outcomes.loads.length} outcome file(s), grades from ${o.grades_from}: `, light(outcomes.light)),
      table(["cohort", "rows", "bad", "pending", "AUC", "ECB AUC test", "mean PD", "observed", "Jeffreys", "binomial", "light"],
        o.cohorts.map((c) => {
          const d_ = c.discrimination, k = c.calibration;
          return [c.cohort, String(c.rows), String(c.defaults), String(c.pending), d_ ? num(d_.auc, 3) : "–",
            p_(d_ && d_.ecb), k ? num(k.mean_pd) : "–", k ? num(k.observed_rate) : "–", p_(k && k.jeffreys), p_(k && k.binomial), light(c.light)];
        }), [1, 2, 3, 4, 6, 7]),
      el("iframe", { title: "back-test", src: `/v1/pipelines/${enc(p)}/versions/${enc(v)}/outcomes`, loading: "lazy" }));
  } else {
    parts.push(el("p", { class: "note" }, "No outcomes back-tested yet (riskfn outcomes report keeps its result here)."));
  }
  parts.push(el("h2", {}, "Report"),
    el("iframe", { title: "report", src: `/v1/pipelines/${enc(p)}/versions/${enc(v)}/report`, loading: "lazy" }),
    el("h2", {}, "Model card"),
    card ? el("iframe", { title: "model card", src: `/v1/pipelines/${enc(p)}/versions/${enc(v)}/card`, loading: "lazy" }) : el("p", { class: "note" }, "Published without a card."));
  view.replaceChildren(...parts);
}

function rocPlot(a, b) {
  const ns = "http://www.w3.org/2000/svg";
  const size = 300, pad = 30;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "roc");
  svg.setAttribute("width", size + 2 * pad);
  svg.setAttribute("height", size + 2 * pad);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "ROC curves of both versions on their test splits");
  const line = (pts, colour, dash) => {
    const pl = document.createElementNS(ns, "polyline");
    pl.setAttribute("points", pts.map(([x, y]) => `${pad + x * size},${pad + (1 - y) * size}`).join(" "));
    pl.setAttribute("fill", "none");
    pl.setAttribute("stroke", colour);
    pl.setAttribute("stroke-width", "2");
    if (dash) pl.setAttribute("stroke-dasharray", dash);
    svg.append(pl);
  };
  line([[0, 0], [1, 1]], "#bbb", "4 4");
  if (a.roc) line(a.roc, "#1f5fa8");
  if (b.roc) line(b.roc, "#d0661b");
  const label = (text, x, y, colour) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("fill", colour); t.setAttribute("font-size", "12");
    t.textContent = text;
    svg.append(t);
  };
  label(`A ${a.version}`, pad + 10, pad + size - 30, "#1f5fa8");
  label(`B ${b.version}`, pad + 10, pad + size - 12, "#d0661b");
  label("false positive rate", pad + size / 2 - 50, pad + size + 22, "#333");
  return svg;
}

function delta(a, b, higherIsBetter = true) {
  if (a === null || b === null || a === undefined || b === undefined) return "–";
  const d = b - a;
  const good = higherIsBetter ? d >= 0 : d <= 0;
  return el("span", { class: d === 0 ? null : good ? "up" : "down" }, (d >= 0 ? "+" : "") + d.toFixed(4));
}

async function compare(p, a, b) {
  crumbs(link(`#/p/${enc(p)}`, p), `compare ${a} with ${b}`);
  const c = await api(`/v1/pipelines/${enc(p)}/compare?a=${enc(a)}&b=${enc(b)}`);
  const m = (s, k) => s.metrics[k];
  const measures = [["ROC AUC", "roc_auc", true], ["KS", "ks", true], ["Gini", "gini", true], ["Brier", "brier", false], ["log loss", "log_loss", false]];
  const rows = [];
  for (const split of ["validation", "test"]) {
    for (const [name, key, up] of measures) {
      rows.push([`${split} ${name}`, num(m(c.a, split)[key]), num(m(c.b, split)[key]), delta(m(c.a, split)[key], m(c.b, split)[key], up)]);
    }
  }
  const gains = (s) => s.gains.length ? table(["band", "rows", "bad rate", "cumulative share of bads", "KS"], s.gains.map((g) => [
    `${g.band}`, String(g.rows), pct(g.bad_rate), pct(g.cumulative_adverse), num(g.ks, 3)]), [1, 2, 3, 4]) : el("p", { class: "note" }, "No gains table.");
  const fair = (s) => s.fairness.length ? s.fairness.map((t) => el("div", {}, el("h3", {}, `${t.attribute} (reference ${t.reference})`),
    table(["group", "rows", "approval rate", "adverse impact ratio", "AUC"], t.test.map((g) => [g.group, String(g.rows), pct(g.approval_rate), num(g.adverse_impact_ratio, 3), num(g.roc_auc, 3)]), [1, 2, 3, 4])))
    : el("p", { class: "note" }, "No protected attributes declared.");
  const parts = [el("h1", {}, `${p}: A ${c.a.version} against B ${c.b.version}`),
    el("p", {}, `A: ${c.a.family}, trained ${c.a.created_at} · B: ${c.b.family}, trained ${c.b.created_at}`),
    el("h2", {}, "Measures"), table(["", "A", "B", "B − A"], rows, [1, 2, 3]),
    el("h2", {}, "ROC curves (test split)"), rocPlot(c.a, c.b),
    el("h2", {}, "Decisions on the test rows both scored (swap set)")];
  if (c.swap) {
    const s = c.swap;
    const cell = (x) => `${x.rows} rows, ${x.rows ? pct(x.bad / x.rows) : "–"} went bad`;
    parts.push(el("p", {}, `${s.rows} test rows.`),
      table(["", "B approves", "B declines"], [
        ["A approves", cell(s.both_approve), cell(s.swap_out)],
        ["A declines", cell(s.swap_in), cell(s.both_decline)],
      ]),
      el("p", { class: "note" }, `Swap in (approved only by B): ${s.swap_in.rows}; swap out (declined only by B): ${s.swap_out.rows}.`));
  } else {
    parts.push(el("p", { class: "note" }, c.swap_note || "No swap set."));
  }
  parts.push(el("h2", {}, "Features"),
    table(["added in B", "dropped from A", "in both"], [[c.added.join(", ") || "none", c.dropped.join(", ") || "none", String(c.kept.length)]]),
    el("h2", {}, "Gains (test split)"), el("div", { class: "pair" }, el("div", {}, el("h3", {}, "A"), gains(c.a)), el("div", {}, el("h3", {}, "B"), gains(c.b))),
    el("h2", {}, "Fairness (test split)"), el("div", { class: "pair" }, el("div", {}, el("h3", {}, "A"), fair(c.a)), el("div", {}, el("h3", {}, "B"), fair(c.b))));
  view.replaceChildren(...parts);
}

// --- routing -----------------------------------------------------------------------

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "p" && parts[2] === "v" && parts[3]) await version(parts[1], parts[3]);
    else if (parts[0] === "p" && parts[2] === "compare" && parts[4]) await compare(parts[1], parts[3], parts[4]);
    else if (parts[0] === "p" && parts[1]) await versions(parts[1]);
    else await pipelines();
    document.body.dataset.ready = location.hash || "#/";
  } catch (err) {
    view.replaceChildren(el("p", { class: "error" }, err.message));
    document.body.dataset.ready = "error";
  }
}

async function start() {
  me = await api("/v1/me");
  document.getElementById("who").textContent = `${me.name}${me.roles.length ? ` (${me.roles.join(", ")})` : ""}`;
  window.addEventListener("hashchange", route);
  await route();
}

start();
