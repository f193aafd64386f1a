// The table of scans: newest first, filtered and paged by GET /scans/list, refreshed every few seconds.
// (One progress stream per row would exhaust the browser's six connections per host; the scan page streams.)
import { element, formatAge, getJson, showMessage } from "./api.js";

const REFRESH_MS = 3000;
const form = document.getElementById("filters");
let cursor = null;

function query() {
  const params = new URLSearchParams({ limit: "50" });
  const data = new FormData(form);
  for (const state of String(data.get("state") ?? "").split(",").map((s) => s.trim()).filter(Boolean)) params.append("state", state);
  for (const name of ["run_id", "event_id"]) if (data.get(name)) params.set(name, String(data.get(name)));
  if (data.get("active")) params.set("is_terminal", "false");
  if (cursor) params.set("cursor", cursor);
  return params;
}

function progressCell(status) {
  const cell = element("td");
  const bar = element("div", null, "bar");
  const fill = element("div");
  const total = status.pixels_total;
  const done = status.pixels_done ?? 0;
  fill.style.width = total ? `${Math.min(100, (100 * done) / total).toFixed(1)}%` : "0";
  bar.append(fill);
  cell.append(bar, element("small", total ? `${done} / ${total}` : `${done} pixels`));
  return cell;
}

// SKYDRIVER_LOGS_URL_TEMPLATE filled in for the scan: the operators' log viewer (null when the template is unset)
const logsLink = (status) => (/^https?:\/\//.test(status.logs_url ?? "") ? status.logs_url : null);

function logsCell(status) {
  const cell = element("td", null, "logs");
  const url = logsLink(status);
  if (url) {
    const link = element("a", "open");
    Object.assign(link, { href: url, target: "_blank", rel: "noopener" });
    cell.append(link);
  }
  return cell;
}

function row(scan) {
  const status = scan.status ?? {};
  const request = scan.request ?? {};
  const tr = element("tr");
  const link = element("a", scan.scan_id.slice(0, 12));
  link.href = `scan.html?id=${encodeURIComponent(scan.scan_id)}`;
  link.title = scan.scan_id;
  const idCell = element("td", null, "mono");
  idCell.append(link);
  const state = status.scan_state ?? "";
  const created = status.timestamps?.created;
  tr.append(
    idCell,
    element("td", state, `state ${state.split("__")[0]}`),
    progressCell(status),
    element("td", request.run_id != null ? `${request.run_id} / ${request.event_id}` : "–"),
    element("td", request.reco_algo ?? ""),
    element("td", request.priority ?? 0),
    element("td", (created ?? "").replace("T", " ").slice(0, 19)),
    element("td", created ? formatAge(created) : ""),
    logsCell(status),
  );
  return tr;
}

let next = null;
async function refresh() {
  try {
    const page = await getJson(`/scans/list?${query()}`);
    next = page.next_cursor;
    document.getElementById("next-page").disabled = !next;
    document.querySelector("#scans tbody").replaceChildren(...page.scans.map(row));
    // the logs column only where a log viewer is configured
    document.getElementById("scans").classList.toggle("no-logs", !page.scans.some((scan) => logsLink(scan.status ?? {})));
    showMessage(page.scans.length ? "" : "no scans match");
  } catch (error) {
    showMessage(error.message);
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); cursor = null; refresh(); });
document.getElementById("next-page").addEventListener("click", () => { cursor = next; refresh(); });
document.getElementById("first-page").addEventListener("click", () => { cursor = null; refresh(); });
refresh();
setInterval(refresh, REFRESH_MS);
