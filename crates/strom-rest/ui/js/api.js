// REST calls. Errors come in Flink's shape {"errors": [...]}; they become Error objects whose
// message is the server's text and whose `status` is the HTTP status.

async function call(method, path, body, contentType) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = contentType || 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch (_) { json = null; }
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
