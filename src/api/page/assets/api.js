// The page's one way to the service: same origin only, JSON in and out, and the admin token.
//
// When the service asks for the admin token (401), the page shows its login form; the token
// is kept in this tab's session storage and sent as `Authorization: Bearer …` on every call.
// It never goes into a URL, and the page never logs it.

const TOKEN = "backstop.admin-token";
const loginWaiters = [];

/** An answer the page cannot use: the service's own message, with the status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the service; resolves to `{status, body}` for 2xx answers, rejects with ApiError. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const sent = new Headers(headers);
  const token = sessionStorage.getItem(TOKEN);
  if (token) sent.set("Authorization", `Bearer ${token}`);
  if (body !== undefined) sent.set("Content-Type", "application/json");
  let resp;
  try {
    resp = await fetch(path, {
      method, headers: sent, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `${method} ${path}: the service did not answer (${e.message})`);
  }
  const text = await resp.text();
  let answer;
  try { answer = JSON.parse(text); } catch { answer = text; }
  if (resp.status === 401) {
    if (token) sessionStorage.removeItem(TOKEN);
    askForToken(token ? "That token was refused." : "");
    throw new ApiError(401, `${method} ${path}: the service asks for the admin token`);
  }
  if (!resp.ok) {
    const why = (answer && answer.error) || text || resp.statusText;
    throw new ApiError(resp.status, `${method} ${path}: ${resp.status} ${why}`);
  }
  return { status: resp.status, body: answer };
}

/** `fn` runs again once someone has signed in (e.g. reload what a 401 stopped). */
export function afterLogin(fn) {
  loginWaiters.push(fn);
}

function askForToken(note) {
  const form = document.getElementById("login");
  form.hidden = false;
  form.querySelector(".hint").dataset.note = note;
  form.querySelector("input").focus();
}

export function setUpLogin() {
  const form = document.getElementById("login");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = form.querySelector("input");
    sessionStorage.setItem(TOKEN, input.value);
    input.value = "";
    form.hidden = true;
    loginWaiters.splice(0).forEach((fn) => fn());
  });
}

/** Shows what went wrong (or hides the banner when `message` is empty). */
export function showProblem(message) {
  const banner = document.getElementById("problem");
  banner.textContent = message || "";
  banner.hidden = !message;
}

/** Runs `fn`, showing its failure in the banner; after a 401 it runs again once signed in. */
export async function guarded(fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) afterLogin(() => guarded(fn));
    else showProblem(e.message);
    return undefined;
  }
}
