extension WebPage {
    /// `/assets/api.js`. Kept as written (a raw string: no escapes), so it reads as the file it is.
    static let apiJS = #"""
// The JSON API of apod, and the write token. The token lives in sessionStorage: this tab only,
// gone when it closes, and never sent anywhere but this server's POST requests.
const tokenKey = 'apo.token';

export function token() {
  return sessionStorage.getItem(tokenKey) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(tokenKey, value);
  else sessionStorage.removeItem(tokenKey);
}

/// An answer other than 2xx: the API's `{"error", "field"}` body when it sent one.
export class APIError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

export async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  return answer(response);
}

/// A mutating request (cancel, retry, resume), with the token when one is set.
export async function post(path) {
  const headers = { Accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.Authorization = 'Bearer ' + bearer;
  const response = await fetch(path, { method: 'POST', headers });
  return answer(response);
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw new APIError(response.status, message, body && body.field);
  }
  return body;
}
"""#
}
