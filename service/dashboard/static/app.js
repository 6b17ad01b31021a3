// The Sluice dashboard: polls the API every POLL_MS and redraws. No dependencies.
"use strict";

const POLL_MS = 2000;
const HISTORY = 60; // polls of throughput kept per pipeline (two minutes)
const history = new Map(); // pipeline -> [[time ms, finished count], ...]
let resultsRows = [];

const tokenInput = document.getElementById("token");
tokenInput.value = localStorage.getItem("sluice-token") || "";
tokenInput.addEventListener("change", () => {
  localStorage.setItem("sluice-token", tokenInput.value.trim());
  refresh();
});

async function api(path, body) {
  const headers = { "content-type": "application/json" };
  const token = tokenInput.value.trim();
  if (token) headers["x-access-token"] = token;
  const answer = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await answer.json();
  if (!answer.ok) {
    const error = new Error((data.error && data.error.message) || answer.statusText);
    error.status = answer.status;
    throw error;
  }
  return data;
}

function cell(row, value, className) {
  const td = document.createElement("td");
  if (value instanceof Node) td.append(value);
  else td.textContent = value === null || value === undefined ? "" : String(value);
  if (className) td.className = className;
  row.append(td);
  return td;
}

function fill(sectionId, items, draw, emptyText) {
  const body = document.querySelector(`#${sectionId} tbody`);
  body.replaceChildren();
  if (!items.length) {
    const row = body.insertRow();
    row.className = "empty";
    const td = cell(row, emptyText);
    td.colSpan = 20;
    return;
  }
  for (const item of items) {
    const row = body.insertRow();
    draw(row, item);
  }
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  const s = Math.max(0, Math.round(value));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function when(value) {
  if (value === null || value === undefined) return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toISOString().replace("T", " ").slice(0, 19);
}

function chip(text, className) {
  const span = document.createElement("span");
  span.className = `state ${className || text}`;
  span.textContent = text;
  return span;
}

function sparkline(points) {
  const canvas = document.createElement("canvas");
  canvas.width = 120;
  canvas.height = 24;
  const rates = [];
  for (let i = 1; i < points.length; i++) {
    const minutes = (points[i][0] - points[i - 1][0]) / 60000;
    rates.push(minutes > 0 ? (points[i][1] - points[i - 1][1]) / minutes : 0);
  }
  const context = canvas.getContext("2d");
  const top = Math.max(1, ...rates);
  context.strokeStyle = "#2f6fd6";
  context.beginPath();
  rates.forEach((rate, i) => {
    const x = (i / Math.max(1, HISTORY - 1)) * canvas.width;
    const y = canvas.height - 2 - (Math.max(0, rate) / top) * (canvas.height - 4);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
  return canvas;
}

async function drawQueues() {
  const pipelines = await api("buckets/status/pipelines");
  const rows = await Promise.all(
    pipelines.map(async (name) => [name, await api(`buckets/status/details/${encodeURIComponent(name)}`)]),
  );
  const now = Date.now();
  fill("queues", rows, (row, [name, counts]) => {
    const finished = counts.success + counts.failure;
    const points = history.get(name) || [];
    points.push([now, finished]);
    while (points.length > HISTORY) points.shift();
    history.set(name, points);
    const first = points.find((p) => now - p[0] <= 60000) || points[0];
    const minutes = (now - first[0]) / 60000;
    const perMinute = minutes > 0 ? Math.max(0, (finished - first[1]) / minutes) : 0;
    cell(row, name);
    for (const status of ["queued", "running", "success", "failure", "total"]) {
      const td = cell(row, counts[status], "num");
      td.dataset.pipeline = name;
      td.dataset.status = status;
    }
    cell(row, perMinute.toFixed(1), "num");
    cell(row, sparkline(points));
  }, "No pipeline holds work.");
}

async function drawRunning(workers) {
  const byWork = new Map();
  for (const worker of workers) if (worker.current) byWork.set(worker.current.id, worker.name);
  const works = await api("buckets/running?limit=50");
  const now = Date.now() / 1000;
  fill("running", works, (row, work) => {
    cell(row, work.id);
    cell(row, work.pipeline);
    cell(row, byWork.get(work.id) || "");
    cell(row, `${work.attempt}/${work.retries + 1}`, "num");
    cell(row, seconds(now - work.start), "num");
    cell(row, work.lease_expires ? seconds(work.lease_expires - now) : "", "num");
  }, "Nothing is running.");
}

async function drawFailures() {
  const works = await api("buckets/view", {
    query: { status: "failure" }, projection: null, skip: 0, limit: 50,
  });
  works.sort((a, b) => (b.stop || b.start || 0) - (a.stop || a.start || 0));
  fill("failures", works, (row, work) => {
    row.dataset.work = work.id;
    cell(row, work.id);
    cell(row, work.pipeline);
    cell(row, `${work.attempt}/${work.retries + 1}`, "num");
    const error = work.results && work.results.error;
    cell(row, error === undefined ? "" : String(error).slice(0, 300), "error");
    const button = document.createElement("button");
    button.textContent = "retry";
    button.dataset.retry = work.id;
    button.title = "Queue it again now (needs an admin token)";
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("buckets/work/retry", { ids: [work.id] });
        button.textContent = "queued";
      } catch (error) {
        button.textContent = error.status === 401 || error.status === 403 ? "admin only" : "failed";
      }
      refresh();
    });
    cell(row, button);
  }, "No failed works.");
}

function drawWorkers(workers) {
  fill("workers", workers, (row, worker) => {
    cell(row, worker.name);
    cell(row, worker.host);
    cell(row, worker.pid, "num");
    cell(row, worker.site);
    cell(row, (worker.pipelines || []).join(", "));
    cell(row, worker.current ? worker.current.id : "idle");
    cell(row, worker.version);
  }, "No live worker.");
}

function flatten(value, prefix, out) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out[prefix] = Array.isArray(value) ? JSON.stringify(value) : value;
  }
  return out;
}

async function drawResults() {
  const counts = await api("results/status");
  const select = document.getElementById("results-pipeline");
  const names = Object.keys(counts).sort();
  const chosen = select.value || names[0] || "";
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = `${name} (${counts[name]})`;
    option.selected = name === chosen;
    return option;
  }));
  if (!chosen) {
    resultsRows = [];
  } else {
    resultsRows = await api("results/view", {
      query: { pipeline: chosen }, projection: {}, skip: 0, limit: 200,
    });
    document.getElementById("results-summary").textContent =
      `showing ${resultsRows.length} of ${counts[chosen]}`;
  }
  renderResults();
}

function renderResults() {
  const needle = document.getElementById("results-search").value.trim().toLowerCase();
  const rows = resultsRows
    .map((doc) => ({ id: doc.id, status: doc.status, created: when(doc.creation), ...flatten(doc.results, "results", {}) }))
    .filter((row) => !needle || JSON.stringify(row).toLowerCase().includes(needle));
  const columns = ["id", "status", "created"];
  for (const row of rows) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const head = document.querySelector("#results thead");
  const headRow = document.createElement("tr");
  for (const name of columns) {
    const th = document.createElement("th");
    th.textContent = name;
    headRow.append(th);
  }
  head.replaceChildren(headRow);
  fill("results", rows, (row, item) => {
    for (const name of columns) cell(row, item[name], typeof item[name] === "number" ? "num" : "");
  }, "No results.");
}
document.getElementById("results-search").addEventListener("input", renderResults);
document.getElementById("results-pipeline").addEventListener("change", () => drawResults().catch(show));

async function drawRuns() {
  const runs = await api("workfiles/processes?limit=20");
  fill("runs", runs, (row, run) => {
    row.dataset.run = run.process_id;
    cell(row, run.process_id.slice(0, 12));
    cell(row, run.workflow_name);
    cell(row, chip(run.status, `status-${run.status}`));
    const graph = document.createElement("span");
    run.steps.forEach((step, index) => {
      if (index) {
        const arrow = document.createElement("span");
        arrow.className = "arrow";
        arrow.textContent = "→";
        graph.append(arrow);
      }
      const node = chip(step.name, step.state);
      node.title = `${step.state}${step.error ? ": " + step.error : ""}`;
      graph.append(node);
    });
    cell(row, graph);
    cell(row, when(run.started_at));
  }, "No runs.");
}

async function drawExperiments() {
  const page = await api("experiments?limit=20");
  fill("experiments", page.experiments, (row, experiment) => {
    cell(row, experiment.eid);
    cell(row, experiment.title);
    cell(row, (experiment.tags || []).join(", "));
    cell(row, when(experiment.created_at));
  }, "No experiments.");
  const tasks = await api("tasks?limit=20");
  fill("tasks", tasks.tasks, (row, task) => {
    cell(row, task.task_id.slice(0, 12));
    cell(row, `${task.extension_name}/${task.action_name}`);
    cell(row, task.experiment_eid);
    cell(row, chip(task.status, `status-${task.status}`));
    cell(row, when(task.created_at));
  }, "No tasks.");
}

function show(error) {
  const problem = document.getElementById("problem");
  problem.hidden = false;
  problem.textContent = error.status === 401 || error.status === 403
    ? `The server refused this token (${error.message}): enter a token with scope read.`
    : `Could not read the API: ${error.message}`;
}

async function refresh() {
  try {
    const workers = await api("buckets/workers");
    drawWorkers(workers);
    await Promise.all([drawQueues(), drawRunning(workers), drawFailures(), drawResults(), drawRuns(), drawExperiments()]);
    document.getElementById("problem").hidden = true;
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.ready = "1";
  } catch (error) {
    show(error);
  }
}

refresh();
setInterval(refresh, POLL_MS);
