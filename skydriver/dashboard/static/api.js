// SkyDriver's REST API from the browser: the bearer token lives in this tab's session storage and goes in the
// Authorization header (never a cookie, so other sites cannot make requests in the user's name).

const TOKEN_KEY = "skydriver-token";

export class ApiError extends Error {
  constructor(status, message) {
    super(`${status}: ${message}`);
    this.status = status;
  }
}

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function raiseFor(response) {
  if (response.ok) return response;
  let message = response.statusText;
  try { message = (await response.json()).error ?? message; } catch { /* not JSON */ }
  if (response.status === 401 || response.status === 403) showTokenBox();
  throw new ApiError(response.status, message);
}

export async function getJson(path, method = "GET") {
  return (await raiseFor(await fetch(path, { method, headers: headers() }))).json();
}

export async function getBlobUrl(path) {
  const blob = await (await raiseFor(await fetch(path, { headers: headers() }))).blob();
  return URL.createObjectURL(blob);
}

// Server-sent events read with fetch (EventSource cannot send an Authorization header). Calls onEvent(kind, data)
// until the server ends the stream; resumes with Last-Event-ID when the connection drops.
export async function followEvents(scanId, onEvent) {
  let lastId = null;
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      const extra = lastId ? { "Last-Event-ID": lastId, Accept: "text/event-stream" } : { Accept: "text/event-stream" };
      const response = await raiseFor(await fetch(`/scan/${scanId}/events?include_deleted=true`, { headers: headers(extra) }));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const fields = Object.fromEntries(block.split("\n").filter((l) => !l.startsWith(":")).map((l) => {
            const at = l.indexOf(": ");
            return [l.slice(0, at), l.slice(at + 2)];
          }));
          if (!fields.event) continue;
          lastId = fields.id;
          onEvent(fields.event, JSON.parse(fields.data));
          if (fields.event === "end") return;
        }
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export function showTokenBox() {
  const box = document.getElementById("token-box");
  if (!box || box.querySelector("input")) return;
  box.innerHTML = '<label>bearer token <input type="password" size="28"></label> <button type="button">use</button>';
  box.querySelector("button").addEventListener("click", () => {
    sessionStorage.setItem(TOKEN_KEY, box.querySelector("input").value.trim());
    location.reload();
  });
}

export function showMessage(text) {
  document.getElementById("message").textContent = text;
}

export function formatAge(isoTime) {
  const seconds = Math.max(0, (Date.now() - Date.parse(isoTime)) / 1000);
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
