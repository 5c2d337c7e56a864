// The observer page's script: polls api/observer every second and renders
// it. Every value from the cluster goes into the page as text
// (textContent, setAttribute), never as markup.
"use strict";

(function () {
  const POLL_MS = 1000;
  const STATES = ["alive", "suspect", "dead", "left"];
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function fill(tbody, rows, cols, emptyText) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      const tr = el("tr");
      const td = el("td", emptyText, "empty");
      td.colSpan = cols;
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    for (const r of rows) tbody.appendChild(r);
  }

  // named is a cell for a name that may be long: cut with an ellipsis,
  // whole in its tooltip.
  function named(text) {
    const td = el("td", text, "mono name");
    td.title = text;
    return td;
  }

  function row(cells) {
    const tr = el("tr");
    for (const c of cells) tr.appendChild(c);
    return tr;
  }

  function num(v, digits) {
    return el("td", fmtNum(v, digits), "num");
  }

  function fmtNum(v, digits) {
    return Number(v).toLocaleString("en-US", {
      minimumFractionDigits: digits || 0,
      maximumFractionDigits: digits || 0,
    });
  }

  function fmtBytes(v) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? fmtNum(v, 0) : fmtNum(v, 1)) + " " + units[i];
  }

  function fmtAge(since, now) {
    let s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
    if (!isFinite(s)) return "";
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60); s %= 60;
    if (m < 60) return m + "m " + s + "s";
    const h = Math.floor(m / 60);
    return h + "h " + (m % 60) + "m";
  }

  function more(section, shown, total, what) {
    let p = section.querySelector(".more");
    if (shown >= total) { if (p) p.remove(); return; }
    if (!p) { p = el("p", "", "more"); section.appendChild(p); }
    p.textContent = "showing " + shown + " of " + total + " " + what;
  }

  function renderHeader(d) {
    document.getElementById("node").textContent = d.node;
    document.title = d.node + " · distribute observer";
    const e = document.getElementById("election");
    if (!d.election.enabled) {
      e.textContent = "election: off";
      e.className = "pill";
    } else {
      const role = d.election.role ? " · this node: " + d.election.role : "";
      if (d.election.has_leader) {
        e.textContent = "leader " + d.election.leader + " · term " + d.election.term + role;
        e.className = "pill on";
      } else {
        e.textContent = "no leader" + (d.election.term ? " · term " + d.election.term : "") + role;
        e.className = "pill none";
      }
    }
    document.getElementById("meta").textContent =
      "v" + d.version + " · creation " + d.creation + (d.hidden ? " · hidden" : " · visible");
  }

  function renderMembers(d, now) {
    const tbody = document.querySelector("#members tbody");
    const rows = d.members.map(function (m) {
      const state = STATES.indexOf(m.state) >= 0 ? m.state : "unknown";
      const status = el("td");
      status.appendChild(el("span", null, "dot state-" + state));
      status.appendChild(document.createTextNode(m.state));
      const conn = el("td");
      conn.appendChild(el("span", m.self ? "self" : (m.connected ? "yes" : "no"),
        "badge " + (m.connected ? "yes" : "no")));
      const tr = row([el("td", m.name, "mono"), status, num(m.incarnation), conn, el("td", fmtAge(m.since, now))]);
      tr.setAttribute("data-node", m.name);
      tr.setAttribute("data-state", state);
      if (m.self) tr.className = "self";
      return tr;
    });
    fill(tbody, rows, 5, d.membership ? "no members" : "membership is off on this node");
    const alive = d.members.filter(function (m) { return m.state === "alive"; }).length;
    document.getElementById("members-count").textContent = alive + " alive of " + d.members.length;
  }

  // sparkline draws one peer's message rates in and out over the minute,
  // the newest sample at the right edge as in the big chart.
  function sparkline(series, capacity) {
    const w = 120, h = 22;
    const s = svg("svg", { viewBox: "0 0 " + w + " " + h, class: "spark", preserveAspectRatio: "none" });
    if (!series || series.length < 2) return s;
    const slots = Math.max(series.length, capacity, 2);
    const offset = slots - series.length;
    let peak = 1;
    for (const r of series) peak = Math.max(peak, r.msg_in, r.msg_out);
    for (const key of ["msg_in", "msg_out"]) {
      const pts = series.map(function (r, i) {
        return ((offset + i) * w / (slots - 1)).toFixed(1) + "," + (h - 1 - r[key] / peak * (h - 2)).toFixed(1);
      });
      s.appendChild(svg("polyline", { points: pts.join(" "), class: key === "msg_in" ? "in" : "out" }));
    }
    return s;
  }

  function renderConnections(d, now) {
    const tbody = document.querySelector("#connections tbody");
    const rows = d.connections.map(function (c) {
      const spark = el("td");
      spark.appendChild(sparkline(d.history.peers[c.node], d.history.capacity));
      const tr = row([
        el("td", c.node + (c.visible ? "" : " (hidden)"), "mono"),
        num(c.rate.msg_in, 1), num(c.rate.msg_out, 1),
        el("td", fmtBytes(c.rate.bytes_in) + "/s", "num"), el("td", fmtBytes(c.rate.bytes_out) + "/s", "num"),
        num(c.msg_in), num(c.msg_out), spark, el("td", fmtAge(c.since, now)),
      ]);
      tr.setAttribute("data-node", c.node);
      return tr;
    });
    fill(tbody, rows, 9, "no connections");
    document.getElementById("conns-count").textContent = String(d.connections.length);
  }

  function renderGlobals(d) {
    const tbody = document.querySelector("#globals tbody");
    const rows = d.globals.names.map(function (g) {
      return row([named(g.name), el("td", g.pid, "mono"), el("td", g.node, "mono")]);
    });
    fill(tbody, rows, 3, d.globals.enabled ? "no global names" : "no global registry (hidden node)");
    document.getElementById("globals-count").textContent = String(d.globals.total);
    more(tbody.closest("section"), d.globals.names.length, d.globals.total, "names");
  }

  function renderGroups(d) {
    const tbody = document.querySelector("#groups tbody");
    const rows = d.groups.groups.map(function (g) {
      let pids = g.members.map(function (m) { return m.pid; }).join(" ");
      if (g.members.length < g.total) pids += " …";
      return row([named(g.name), num(g.total), el("td", pids, "mono wrap")]);
    });
    fill(tbody, rows, 3, d.groups.enabled ? "no groups" : "process groups are off on this node");
    document.getElementById("groups-scope").textContent = d.groups.enabled ? "scope " + d.groups.scope : "";
    document.getElementById("groups-count").textContent = String(d.groups.total);
    more(tbody.closest("section"), d.groups.groups.length, d.groups.total, "groups");
  }

  function renderProcesses(d) {
    const tbody = document.querySelector("#processes tbody");
    const rows = d.processes.shown.map(function (p) {
      return row([el("td", p.pid, "mono"), el("td", p.names.join(", "), "mono wrap"), num(p.mailbox)]);
    });
    fill(tbody, rows, 3, "no processes");
    document.getElementById("procs-count").textContent = String(d.processes.total);
    more(tbody.closest("section"), d.processes.shown.length, d.processes.total, "processes");
  }

  // niceMax rounds a peak up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function renderChart(d) {
    const box = document.getElementById("chart");
    const w = Math.max(300, box.clientWidth || 800), h = 180;
    const left = 48, right = 10, top = 10, bottom = 22;
    const s = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": "message rates over the last minute" });
    const hist = d.history;
    const slots = Math.max(2, hist.capacity);
    let peak = 0;
    for (const r of hist.total) peak = Math.max(peak, r.msg_in, r.msg_out);
    const top_ = niceMax(peak);
    const x = function (i) { return left + (w - left - right) * i / (slots - 1); };
    const y = function (v) { return top + (h - top - bottom) * (1 - v / top_); };
    for (const f of [0, 0.5, 1]) {
      s.appendChild(svg("line", { x1: left, x2: w - right, y1: y(top_ * f), y2: y(top_ * f), class: "axis" }));
      const t = svg("text", { x: left - 6, y: y(top_ * f) + 4, "text-anchor": "end", class: "label" });
      t.textContent = fmtNum(top_ * f, top_ < 10 ? 1 : 0);
      s.appendChild(t);
    }
    for (const [i, label] of [[0, "-" + Math.round((slots - 1) * hist.interval_ms / 1000) + "s"], [slots - 1, "now"]]) {
      const t = svg("text", { x: x(i), y: h - 6, "text-anchor": i === 0 ? "start" : "end", class: "label" });
      t.textContent = label;
      s.appendChild(t);
    }
    // The newest sample sits at the right edge.
    const offset = slots - hist.total.length;
    for (const key of ["msg_in", "msg_out"]) {
      if (hist.total.length < 2) break;
      const pts = hist.total.map(function (r, i) {
        return x(offset + i).toFixed(1) + "," + y(r[key]).toFixed(1);
      });
      s.appendChild(svg("polyline", { points: pts.join(" "), class: "line " + (key === "msg_in" ? "in" : "out") }));
    }
    box.replaceChildren(s);
  }

  function render(d) {
    const now = Date.parse(d.time);
    renderHeader(d);
    renderMembers(d, now);
    renderChart(d);
    renderConnections(d, now);
    renderGlobals(d);
    renderGroups(d);
    renderProcesses(d);
  }

  function setStatus(ok, text) {
    const s = document.getElementById("status");
    s.className = "status " + (ok ? "ok" : "stale");
    s.textContent = text;
  }

  async function poll() {
    try {
      const resp = await fetch("api/observer", { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const d = await resp.json();
      render(d);
      setStatus(true, "live · " + new Date(d.time).toLocaleTimeString());
    } catch (err) {
      setStatus(false, "no answer from the node: " + err.message);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
