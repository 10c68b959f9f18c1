// REST calls. Errors come in Flink's shape {"errors": [...]}; they become Error objects whose
// message is the server's text and whose `status` is the HTTP status.

// A cluster with 'rest.auth.token' answers 401 to mutating calls without it: the UI asks for the
// token once, keeps it for the browser tab (sessionStorage) and sends it as a bearer token.
const TOKEN_KEY = 'strom.rest.token';

async function call(method, path, body, contentType, retried) {
  const init = { method, headers: {} };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && method !== 'GET') init.headers['Authorization'] = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = contentType || 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch (_) { json = null; }
  if (res.status === 401 && method !== 'GET' && !retried) {
    const given = window.prompt('This cluster needs its REST token (rest.auth.token) for this action:');
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given.trim());
      return call(method, path, body, contentType, true);
    }
  }
  if (!res.ok) {
    const msg = json && Array.isArray(json.errors) ? json.errors.join('\n') : `${res.status} ${res.statusText}: ${text}`;
    const err = new Error(msg);
    err.status = res.status;
    err.body = json;
    throw err;
  }
  if (json === null) throw new Error(`${method} ${path}: the answer is not JSON`);
  return json;
}

export const get = (path) => call('GET', path);

// GET that answers null when the endpoint or the object does not exist (404).
export async function getOptional(path) {
  try { return await call('GET', path); } catch (e) { if (e.status === 404) return null; throw e; }
}

export const post = (path, body, contentType) => call('POST', path, body, contentType);
export const patch = (path) => call('PATCH', path);
