// Small DOM helpers. Text always goes in as text (never as HTML), so content from the API cannot inject markup.

const BOOLEAN_ATTRIBUTES = new Set(["disabled", "readonly", "hidden", "required", "checked", "open", "autofocus"]);

/** Build an element: h("button", {type: "button", onclick: fn}, "Save"). Null, undefined and false are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, val] of Object.entries(attrs || {})) {
    if (key === "value") value = val;
    else if (key.startsWith("on") && typeof val === "function") el.addEventListener(key.slice(2), val);
    else if (key === "class") el.className = val || "";
    else if (BOOLEAN_ATTRIBUTES.has(key)) el.toggleAttribute(key, Boolean(val));
    else if (val !== undefined && val !== null && val !== false) el.setAttribute(key, String(val));
  }
  append(el, children);
  if (value !== undefined) el.value = value;  // after the children: a <select> needs its options first
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const DATE_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A <time> for an ISO timestamp from the API, shown in the reader's locale and time zone. */
export function time(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return h("time", { datetime: iso, title: date.toISOString() }, DATE_FORMAT.format(date));
}

let uniqueCounter = 0;
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** Move focus to an element that is not focusable by itself (a heading, a result box), for screen readers too. */
export function focusOn(el) {
  if (!el) return;
  if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
  el.focus();
}

export const STATUS_LABELS = { active: "Active", deactive: "Deactivated", delete: "Deleted" };
const COMPILATION_LABELS = { draft: "Draft", compiled: "Compiled", failed: "Failed" };

/** An agent's status (`active`, `deactive`, `delete`, the API's words) as a badge with a person's words. */
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, STATUS_LABELS[status] || status);
}

/** A version's compilation status as a badge. */
export function compilationBadge(status) {
  return h("span", { class: `badge compilation-${status}` }, COMPILATION_LABELS[status] || status);
}

/** Copies a secret shown once to the clipboard (or selects it where the browser has no clipboard API), tells the
 * user how it went with `notify`, and gives the focus back to the button. */
export async function copySecret(input, button, notify, stored) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select(); // no clipboard API (plain http from another host): the secret is selected instead
    if (!document.execCommand("copy")) {
      notify("The browser did not allow copying. The secret is selected: press Ctrl+C (⌘C).", "info");
      return;
    }
  }
  notify(`The secret is copied to the clipboard. ${stored}`);
  button.focus();
}
