// The JSON API as the page calls it: the bearer token, problem+json errors, and what to tell a person about them.

import { LIMITS } from "./domain.js";

const TOKEN_KEY = "org-agents.token";

/** The token lives only in this tab's sessionStorage: closing the tab or signing out forgets it. */
export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** A refused or failed call. `status` 0 means no answer at all (network down, server stopped). */
export class ApiError extends Error {
  constructor(status, problem, requestId) {
    super((problem && problem.detail) || (status ? `HTTP ${status}` : "no answer from the server"));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem && typeof problem === "object" ? problem : {};
    this.requestId = requestId;
  }

  /** The problem's `errors`: [{field, message}], every violation of a 400 or 422. */
  get errors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }

  get code() {
    return this.problem.code || "";
  }
}

/** Call the API; resolves to the decoded JSON (null for 204), rejects with an ApiError. `headers` adds request
 * headers such as If-Match. */
export async function api(method, path, { body, query, headers: extra, token = session.token } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json, application/problem+json", ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  let text;
  try {
    response = await fetch(url, init);
    text = await response.text();
  } catch {
    throw new ApiError(0, null, null);
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("x-request-id"));
  return data;
}

const CONFLICTS = {
  AgentDeleted: "This agent is deleted: it stays readable but accepts no changes.",
  VersionNotCompiled: "Only a compiled version can be activated or labelled. Compile it first.",
  ProductionUndeletable: "The production label cannot be deleted: deactivate the agent to stop serving it.",
  ProductionAlwaysProtected: "The production label is always protected.",
  ConcurrentUpdate: "Someone changed this at the same moment. Reload and try again.",
};

/** A byte count as the API's limits are stated: "256 KiB". */
const size = (bytes) => (bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`);

/** One sentence for a person: what went wrong and what to do about it. */
export function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong in this page: ${error && error.message}`;
  const detail = error.problem.detail ? ` (${error.problem.detail})` : "";
  switch (error.status) {
    case 0:
      return "No answer from the server. Check your connection, or whether org-agents is running, and try again.";
    case 400:
      return `The server could not read the request${detail}.`;
    case 401:
      return "Your token was not accepted: it may be mistyped, revoked, or from another server. "
        + "Paste a token to sign in again.";
    case 403:
      return "Your role does not allow this: it needs an owner or admin.";
    case 404:
      return "Not found: it does not exist in your organization, or it was removed.";
    case 409:
      return CONFLICTS[error.code] || `Not possible in the current state${detail}.`;
    case 412:
      return error.code === "LabelChanged"
        ? "Someone moved this label meanwhile, so nothing was changed. Reload to see where it points now."
        : "Someone changed this meanwhile, so nothing was changed. Reload and try again.";
    case 413:
      return `Too large: a blueprint may be at most ${size(LIMITS.blueprint_bytes)}, `
        + `other requests ${size(LIMITS.small_body_bytes)}.`;
    case 422: {
      const fields = error.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
      return fields.length ? `Please correct: ${fields.join("; ")}.` : `The content is not valid${detail}.`;
    }
    case 503:
      return "The service cannot reach its database right now. Try again in a moment.";
    default: {
      const ref = error.requestId ? ` If it keeps happening, report request id ${error.requestId}.` : "";
      return `The server failed to answer (HTTP ${error.status}).${ref}`;
    }
  }
}
