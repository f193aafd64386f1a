// One scan: its state and progress live from the progress stream, its sky map and numbers when a result arrives.
import { element, followEvents, getBlobUrl, getJson, showMessage } from "./api.js";

const scanId = new URLSearchParams(location.search).get("id") ?? "";
document.getElementById("scan-id").textContent = scanId;
document.title = `SkyDriver scan ${scanId}`;

const rate = { first: null, last: null };

function showProgress(snapshot) {
  const done = snapshot.pixels_done, total = snapshot.pixels_predicted;
  const now = Date.now() / 1000;
  if (done && !rate.first) rate.first = { t: now, done };
  rate.last = { t: now, done };
  const perSecond = rate.first && rate.last.t > rate.first.t ? (rate.last.done - rate.first.done) / (rate.last.t - rate.first.t) : 0;
  const fraction = total ? Math.min(1, done / total) : 0;
  document.getElementById("bar-fill").style.width = `${(100 * fraction).toFixed(1)}%`;
  const parts = [`${done}${total ? ` of ~${total}` : ""} pixels`];
  if (perSecond > 0) parts.push(`${perSecond.toFixed(1)} pixels/s`);
  if (perSecond > 0 && total && done < total && !snapshot.is_terminal) parts.push(`ETA ${Math.ceil((total - done) / perSecond)} s`);
  document.getElementById("progress-text").textContent = parts.join(" · ");
}

function showState(snapshot) {
  const name = snapshot.scan_state;
  const state = document.getElementById("state");
  state.textContent = name;
  state.className = `state ${name.split("__")[0]} ${snapshot.result?.is_final ? "done" : ""} ${snapshot.launch_status === "failed" ? "failed" : ""}`;
  document.getElementById("reason").textContent = snapshot.reason ?? "";
  const failure = snapshot.failure ?? null;
  const box = document.getElementById("failure");
  box.hidden = !failure;
  if (failure) {  // its message is usually the reason shown above: then only where it came from and the log's tail
    const message = failure.message && failure.message !== snapshot.reason ? `: ${failure.message}` : "";
    box.textContent = [`${failure.source} ${failure.code ?? ""}${message}`, ...(failure.log_tail ?? [])].join("\n");
  }
  document.getElementById("cancel").disabled = snapshot.complete || snapshot.is_deleted;
}

// three significant figures: real contours run from 0.005 to 1,000 deg²
const area = (deg2) => (deg2 >= 100 ? deg2.toFixed(0) : deg2.toPrecision(3));

async function showResult() {
  const summary = await getJson(`/scan/${scanId}/result/summary`);
  const rows = [
    ["best fit", `RA ${summary.best_fit.ra_deg.toFixed(2)}°, Dec ${summary.best_fit.dec_deg.toFixed(2)}° (nside ${summary.best_fit.nside})`],
    ["50% / 90% area", `${area(summary.contour_areas_deg2["50%"])} / ${area(summary.contour_areas_deg2["90%"])} deg²`],
    ["pixels per nside", Object.entries(summary.pixel_counts).map(([k, v]) => `${k}: ${v}`).join(", ")],
  ];
  document.getElementById("fits").hidden = false;
  const body = document.querySelector("#summary tbody");
  body.replaceChildren(...rows.map(([k, v]) => { const tr = element("tr"); tr.append(element("th", k), element("td", v)); return tr; }));
  document.getElementById("summary").hidden = false;
  const image = document.getElementById("skymap");
  const previous = image.src;
  image.src = await getBlobUrl(`/scan/${scanId}/skymap.png?zoom=true`);
  if (previous.startsWith("blob:")) URL.revokeObjectURL(previous);
  document.getElementById("skymap-figure").hidden = false;
  document.getElementById("no-result").hidden = true;
}

async function showLaunch() {
  const manifest = await getJson(`/scan/manifest/${scanId}?include_event=false&include_deleted=true`);
  const held = (c) => Object.entries(c.hold_reasons ?? {}).map(([why, n]) => `; ${n} held: ${why}`).join("");
  const clusters = manifest.condor_clusters.map((c) => `${c.schedd} #${c.cluster_id} (${c.jobs} jobs${held(c)})`).join(", ");
  const rows = [
    ["scanner image tag", manifest.docker_tag],
    ["launcher", `${manifest.launch.launcher}, ${manifest.launch.attempts} attempt(s)`],
    ["scanner server", manifest.scanner_server_args],
    ["HTCondor clusters", clusters || "none reported yet"],
    ["event", manifest.event_metadata ? `run ${manifest.event_metadata.run_id}, event ${manifest.event_metadata.event_id} (${manifest.event_metadata.event_type})` : "not reported yet"],
  ];
  const logsUrl = manifest.status?.logs_url ?? "";
  if (/^https?:\/\//.test(logsUrl)) {  // SKYDRIVER_LOGS_URL_TEMPLATE: the operators' log viewer for this scan
    const link = element("a", "open in the log viewer");
    Object.assign(link, { href: logsUrl, target: "_blank", rel: "noopener" });
    rows.push(["logs", link]);
  }
  document.querySelector("#launch tbody").replaceChildren(...rows.map(([k, v]) => {
    const tr = element("tr");
    const cell = v instanceof Node ? element("td") : element("td", v, "mono");
    if (v instanceof Node) cell.append(v);
    tr.append(element("th", k), cell);
    return tr;
  }));
}

async function showLogs() {
  try {
    const logs = await getJson(`/scan/${scanId}/logs?container=server&tail=40`);
    document.getElementById("logs").textContent = logs.lines.join("\n") || "(empty)";
  } catch (error) {
    document.getElementById("logs").textContent = `no log: ${error.message}`;
  }
}

document.getElementById("rescan").hidden = false;
document.getElementById("rescan").addEventListener("click", async () => {
  if (!confirm(`Scan the event of ${scanId} again, with the same request?`)) return;
  try {
    const manifest = await getJson(`/scan/${scanId}/actions/rescan`, "POST");
    location.href = `scan.html?id=${encodeURIComponent(manifest.scan_id)}`;
  } catch (error) { showMessage(`rescan refused: ${error.message}`); }
});

document.getElementById("fits").addEventListener("click", async () => {
  const link = document.createElement("a");
  link.href = await getBlobUrl(`/scan/${scanId}/skymap.fits`);
  link.download = `${scanId}.multiorder.fits`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
});

document.getElementById("cancel").addEventListener("click", async () => {
  if (!confirm(`Cancel scan ${scanId}? Its processes are stopped and it is marked deleted.`)) return;
  try {
    await getJson(`/scan/manifest/${scanId}`, "DELETE");
    showMessage("cancelled: the scan is being stopped");
  } catch (error) { showMessage(`cancel refused: ${error.message}`); }
});

// One fetch of the map and numbers at a time, always ending on the newest result: events may arrive faster than a
// sky map renders, and an older render finishing last must not replace a newer one.
const resultView = { shown: null, wanted: null, busy: false };
async function refreshResult(updated) {
  resultView.wanted = updated;
  if (resultView.busy) return;
  resultView.busy = true;
  try {
    while (resultView.shown !== resultView.wanted) {
      const target = resultView.wanted;
      await showResult();
      resultView.shown = target;
    }
  } catch (error) {
    showMessage(error.message);
  } finally {
    resultView.busy = false;
  }
}

let launchRefreshed = false;

async function main() {
  try {
    await showLaunch();
    await followEvents(scanId, (kind, snapshot) => {
      showState(snapshot);
      showProgress(snapshot);
      // clusters and event metadata arrive in the scanner's reports: refresh the launch details on those too
      if (kind !== "progress" || !launchRefreshed) {
        launchRefreshed = kind === "progress" || launchRefreshed;
        showLaunch().catch((error) => showMessage(error.message));
      }
      if (snapshot.result) refreshResult(snapshot.result.updated);
      if (kind !== "progress") showLogs();
    });
  } catch (error) {
    showMessage(error.message);
  }
}

main();
