// What changed between two versions (GET …/blueprints/{id}/diff?from=…), as the page shows it: the blueprint's
// changes one row per changed field, before and after side by side, then the unified diff of the two prompts with
// its added and removed lines marked. Used by the compare card on the agent page and by "what goes live" inside the
// confirmations of activate, rollback and label moves.

import { api, describe } from "./api.js";
import { SECTIONS } from "./blueprint-form.js";
import { focusOn, h, replace } from "./dom.js";

const OPS = { added: "Added", removed: "Removed", changed: "Changed" };
const SHORT_CHANGES = 6; // in a confirmation, a longer list starts collapsed
const SHORT_PROMPT_DIFF = 40; // lines

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const capitalize = (text) => (text ? text[0].toUpperCase() + text.slice(1) : text);
const humanize = (key) => capitalize(String(key).replaceAll("_", " "));
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The diff from `fromId` (null: the version before; for version 1, the empty blueprint) to `toId`. */
export function loadDiff(base, toId, fromId = null) {
  return api("GET", `${base}/blueprints/${toId}/diff`, { query: { from: fromId } });
}

// -- a change's path, in a person's words --------------------------------------------------------------------------

// `identity.role`, `tools[name=search].purpose`, `workflow.steps[2]`: a key, then `.key`, `[index]` or `[key=name]`.
// A name runs to the `]` that ends the path or is followed by `.` or `[`.
const FIRST = /^[^.[\]]+/;
const NEXT = /^(?:\.([^.[\]]+)|\[(\d+)\](?=\.|\[|$)|\[([A-Za-z_]+)=(.*?)\](?=\.|\[|$))/;

/** The parts of a path: [{key}|{index}|{by, name}], or null when it does not read as one. */
export function pathParts(path) {
  const first = FIRST.exec(path);
  if (!first) return null;
  const parts = [{ key: first[0] }];
  let rest = path.slice(first[0].length);
  while (rest) {
    const next = NEXT.exec(rest);
    if (!next) return null;
    if (next[1] !== undefined) parts.push({ key: next[1] });
    else if (next[2] !== undefined) parts.push({ index: Number(next[2]) });
    else parts.push({ by: next[3], name: next[4] });
    rest = rest.slice(next[0].length);
  }
  return parts;
}

/** "Identity › Role", "Tool “search” › Purpose", "Workflow › Steps › item 3"; the path itself if it does not parse. */
export function pathLabel(path) {
  const parts = pathParts(path);
  if (!parts) return path;
  const section = SECTIONS.find((s) => s.key === parts[0].key);
  const words = [];
  let fields = section ? section.fields : [];
  let item = section && section.kind === "list" ? capitalize(section.item) : null;
  words.push(section ? section.title : humanize(parts[0].key));
  for (const part of parts.slice(1)) {
    if (part.key !== undefined) {
      const field = fields.find((f) => f.key === part.key);
      words.push(field ? field.label : humanize(part.key));
      fields = [];
      item = null;
    } else if (item) { // an item of a section's list: named after the section's item, not "item"
      words.pop();
      words.push(part.name !== undefined ? `${item} “${part.name}”` : `${item} ${part.index + 1}`);
      item = null;
    } else {
      words.push(part.name !== undefined ? `“${part.name}”` : `item ${part.index + 1}`);
    }
  }
  return words.join(" › ");
}

// -- values ---------------------------------------------------------------------------------------------------------

const isTexts = (value) => Array.isArray(value) && value.every((v) => typeof v === "string");

/** A value as a person reads it: a text as text, a list of texts as a list, an item as its fields, else JSON. */
export function valueElement(value) {
  if (value === undefined) return h("span", { class: "muted" }, "—");
  if (typeof value === "string") {
    return value.trim() ? h("div", { class: "value text" }, value) : h("span", { class: "muted" }, "(blank)");
  }
  if (isTexts(value)) {
    return value.length ? h("ul", { class: "value texts" }, value.map((v) => h("li", {}, v)))
      : h("span", { class: "muted" }, "(an empty list)");
  }
  if (isObject(value) && Object.values(value).every((v) => typeof v === "string" || isTexts(v))) {
    const entries = Object.entries(value);
    if (!entries.length) return h("span", { class: "muted" }, "(empty)");
    return h("dl", { class: "value fields" }, entries.map(([key, v]) => h("div", {},
      h("dt", {}, humanize(key)), h("dd", {}, typeof v === "string" ? v : v.join(", ")))));
  }
  return h("pre", { class: "value json" }, JSON.stringify(value, null, 2));
}

// -- the blueprint's changes --------------------------------------------------------------------------------------

/** One row per change: the field (in words, and its path), what happened, before and after side by side. */
export function changesTable(changes, caption) {
  return h("table", { class: "changes responsive" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Field"),
      h("th", { scope: "col" }, "Change"),
      h("th", { scope: "col" }, "Before"),
      h("th", { scope: "col" }, "After"))),
    h("tbody", {}, changes.map((change) => h("tr", { class: `op-${change.op}` },
      h("th", { scope: "row", "data-label": "Field" },
        h("span", { class: "field-name" }, pathLabel(change.path), h("code", { class: "path" }, change.path))),
      h("td", { "data-label": "Change" },
        h("span", { class: `badge op op-${change.op}` }, OPS[change.op] || change.op)),
      h("td", { "data-label": "Before", class: "before" }, valueElement(change.before)),
      h("td", { "data-label": "After", class: "after" }, valueElement(change.after))))));
}

// -- the prompt's diff ------------------------------------------------------------------------------------------------

/** The lines of a unified diff, each with its kind: head (---, +++), hunk (@@), add (+), del (-), same, note (\). */
export function diffLines(text) {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return lines.map((line, i) => {
    let kind = "same";
    if (i < 2 && (line.startsWith("--- ") || line.startsWith("+++ "))) kind = "head";
    else if (line.startsWith("@@")) kind = "hunk";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    else if (line.startsWith("\\")) kind = "note";
    return { kind, line };
  });
}

export function diffCounts(text) {
  const lines = diffLines(text);
  return { added: lines.filter((l) => l.kind === "add").length, removed: lines.filter((l) => l.kind === "del").length };
}

const countsText = ({ added, removed }) => `${plural(added, "line", "lines")} added, ${removed} removed`;

/** The unified diff as a block of lines; + and - stay in the text, so the marks do not depend on colour. */
export function promptDiffElement(text, labelledBy) {
  return h("pre", { class: "prompt-diff", tabindex: "0", "aria-labelledby": labelledBy },
    diffLines(text).map(({ kind, line }) => h("span", { class: `line ${kind}` }, line, "\n")));
}

/** Why there is no prompt diff, from what the page knows of the two versions' compile status. */
function noPromptText(diff, statusOf) {
  if (!diff.from) return `Version ${diff.to.version} is the first: there is no earlier prompt to compare with.`;
  const uncompiled = [diff.from, diff.to].filter((v) => statusOf(v.id) !== "compiled");
  if (uncompiled.length !== 1) return "No prompt to compare: one of the two versions does not compile.";
  const [version] = uncompiled;
  const why = statusOf(version.id) === "failed" ? "did not compile" : "does not compile as it is";
  return `No prompt to compare: version ${version.version} ${why}.`;
}

// -- a whole diff --------------------------------------------------------------------------------------------------

/** The title of a diff: "Version 1 → version 2", "Version 1, from an empty blueprint". */
export function diffTitle(diff) {
  return diff.from ? `Version ${diff.from.version} → version ${diff.to.version}`
    : `Version ${diff.to.version}, from an empty blueprint`;
}

/** What the compare card shows of a diff: both notes, the changes, then the prompt diff (or why there is none).
 * `versions`: what the page knows of them (summaries or whole versions), for their notes and compile status;
 * `prefix`: ids. */
export function diffElement(diff, { versions = [], prefix = "diff" } = {}) {
  const known = (id) => versions.find((v) => v.id === id) || null;
  const statusOf = (id) => (known(id) ? known(id).compilation_status : "");
  const notes = [diff.from, diff.to].filter(Boolean).map((ref) => {
    const version = known(ref.id);
    return version && version.message ? h("li", {}, h("strong", {}, `Version ${ref.version}: `), version.message)
      : null;
  }).filter(Boolean);
  const promptHeading = `${prefix}-prompt-heading`;
  const { changes } = diff;
  const same = diff.from && diff.from.id === diff.to.id;
  let prompt;
  if (diff.prompt_diff === null || diff.prompt_diff === undefined) prompt = h("p", { class: "note" },
    noPromptText(diff, statusOf));
  else if (!diff.prompt_diff) prompt = h("p", { class: "note" }, "The two prompts are the same.");
  else prompt = [h("p", { class: "note" }, countsText(diffCounts(diff.prompt_diff))),
    promptDiffElement(diff.prompt_diff, promptHeading)];
  return h("div", { class: "diff" },
    notes.length ? h("div", { class: "notes" }, h("h4", {}, "Change notes"), h("ul", {}, notes)) : null,
    h("h4", {}, "Blueprint"),
    changes.length
      ? [h("p", { class: "note" }, `${plural(changes.length, "change", "changes")}, in the prompt's section order.`),
        changesTable(changes, `What changed in the blueprint: ${diffTitle(diff)}`)]
      : h("p", { class: "note" }, same ? "The same version on both sides: nothing to compare."
        : "The two blueprints are the same."),
    h("h4", { id: promptHeading }, "Prompt, line by line"),
    prompt);
}

// -- "what goes live", inside a confirmation ------------------------------------------------------------------------

let liveSerial = 0;

/** A block for a confirmation: what changes when `to` ({id, version}) takes the place of `from` ({id, version}),
 * loaded as the dialog opens. `note`: the change note of `to`, when the page knows it; `title`: the block's
 * heading. Long parts start collapsed; the loading and a failure to load are said in the block, and the
 * confirmation stays usable either way. */
export function whatGoesLive(base, from, to, { note = null, title = "What goes live" } = {}) {
  liveSerial += 1;
  const prefix = `live-${liveSerial}`;
  const loading = h("p", { class: "loading" }, "Loading the changes…");
  const body = h("div", { class: "live-body", "aria-live": "polite" }, loading);
  const block = h("section", { class: "goes-live", "aria-labelledby": `${prefix}-heading` },
    h("h3", { id: `${prefix}-heading` }, title),
    note ? h("p", { class: "note-text" }, h("strong", {}, `Version ${to.version}'s note: `), note) : null,
    body);
  loadDiff(base, to.id, from.id).then((diff) => {
    const { changes } = diff;
    const parts = [];
    if (!changes.length && !diff.prompt_diff) {
      parts.push(h("p", {}, `Versions ${from.version} and ${to.version} have the same blueprint and prompt.`));
    } else {
      parts.push(h("details", { class: "live-changes", open: changes.length <= SHORT_CHANGES },
        h("summary", {}, `Blueprint: ${plural(changes.length, "change", "changes")}`),
        changes.length ? changesTable(changes, `What changes in the blueprint: ${diffTitle(diff)}`)
          : h("p", { class: "note" }, "The blueprints are the same.")));
      if (diff.prompt_diff) {
        const lines = diffLines(diff.prompt_diff).length;
        parts.push(h("details", { class: "live-prompt", open: lines <= SHORT_PROMPT_DIFF },
          h("summary", { id: `${prefix}-prompt` }, `Prompt: ${countsText(diffCounts(diff.prompt_diff))}`),
          promptDiffElement(diff.prompt_diff, `${prefix}-prompt`)));
      } else if (diff.prompt_diff === "") {
        parts.push(h("p", { class: "note" }, "The prompt stays the same."));
      }
    }
    replace(body, parts);
  }).catch((error) => {
    replace(body, h("p", { class: "note refusal" }, `The changes could not be loaded: ${describe(error)} `
      + "You can still confirm or cancel."));
  });
  return block;
}

// -- the compare card on the agent page --------------------------------------------------------------------------

const BEFORE = ""; // the "from" menu's "Previous" choice: the version before "to", the API's default

export class CompareSection {
  constructor(page) {
    this.page = page; // the AgentPage: its base, versions, selected version, ctx
    this.state = null; // {toId, fromId, diff, error}: null while the card is closed
    this.serial = 0;
  }

  get open() {
    return Boolean(this.state);
  }

  /** The versions to choose from: those listed so far, and the opened and compared ones if they are older. */
  choices() {
    const page = this.page;
    const all = [...page.versions];
    for (const extra of [page.selected, this.state && this.state.version]) {
      if (extra && !all.some((v) => v.id === extra.id)) all.push(extra);
    }
    return all.sort((a, b) => b.version - a.version);
  }

  /** Open the card on `to` (a BlueprintOut), compared with `fromId` (the version before by default). */
  async show(to, fromId = BEFORE) {
    this.state = { toId: to.id, version: to, fromId, diff: null, error: null };
    this.render(this.el);
    this.el.scrollIntoView({ block: "start" });
    focusOn(document.getElementById("compare-heading"));
    await this.load();
  }

  close() {
    this.state = null;
    this.serial += 1; // an answer still on its way is dropped
    this.render(this.el);
  }

  async load() {
    this.serial += 1;
    const serial = this.serial;
    const { toId, fromId } = this.state;
    this.state.diff = null;
    this.state.error = null;
    this.renderResult();
    try {
      const diff = await loadDiff(this.page.base, toId, fromId || null);
      if (serial !== this.serial) return;
      this.state.diff = diff;
    } catch (error) {
      if (serial !== this.serial) return;
      this.state.error = error;
      this.page.ctx.fail(error);
    }
    this.renderResult();
  }

  render(el) {
    this.el = el;
    el.hidden = !this.open;
    if (!this.open) {
      el.replaceChildren();
      return;
    }
    const versions = this.choices();
    const option = (v) => h("option", { value: v.id },
      `Version ${v.version}${v.compilation_status === "compiled" ? "" : ` (${v.compilation_status})`}`);
    const from = h("select", { id: "compare-from" },
      h("option", { value: BEFORE }, "Previous"), versions.map(option));
    const to = h("select", { id: "compare-to" }, versions.map(option));
    from.value = this.state.fromId;
    to.value = this.state.toId;
    const changed = () => {
      this.state.fromId = from.value;
      this.state.toId = to.value;
      this.state.version = versions.find((v) => v.id === to.value) || this.state.version;
      this.load();
    };
    from.addEventListener("change", changed);
    to.addEventListener("change", changed);
    this.swap = h("button", {
      type: "button", class: "small", disabled: true,
      onclick: () => {
        const { diff } = this.state;
        if (!diff || !diff.from) return;
        this.state.fromId = diff.to.id;
        this.state.toId = diff.from.id;
        this.state.version = versions.find((v) => v.id === diff.from.id) || this.state.version;
        from.value = this.state.fromId;
        to.value = this.state.toId;
        this.load();
      },
    }, "Swap");
    this.resultEl = h("div", { class: "compare-result", "aria-live": "polite", "aria-busy": "false" });
    const close = h("button", {
      type: "button", class: "quiet",
      onclick: () => {
        this.close();
        focusOn(document.getElementById("history-heading"));
      },
    }, "Close");
    replace(el,
      h("div", { class: "title-row" }, h("h2", { id: "compare-heading" }, "Compare versions"), close),
      h("div", { class: "compare-fields" },
        h("div", { class: "field" }, h("label", { for: "compare-from" }, "From"), from),
        h("div", { class: "field" }, h("label", { for: "compare-to" }, "To"), to),
        h("div", { class: "field submit" }, this.swap)),
      h("p", { class: "hint" }, "“Previous” is the version before the one in “To”. Each changed field shows its "
        + "value before and after; the prompt shows line by line, + added and − removed. A draft is compared as it "
        + "would compile."),
      this.resultEl);
    this.renderResult();
  }

  renderResult() {
    if (!this.resultEl) return;
    const { diff, error } = this.state;
    this.swap.disabled = !(diff && diff.from);
    this.resultEl.setAttribute("aria-busy", String(!diff && !error));
    if (error) {
      replace(this.resultEl, h("p", { class: "note refusal" }, describe(error)),
        h("button", { type: "button", onclick: () => this.load() }, "Try again"));
    } else if (!diff) {
      replace(this.resultEl, h("p", { class: "loading" }, "Loading the changes…"));
    } else {
      replace(this.resultEl, h("h3", { id: "compare-title" }, diffTitle(diff)),
        diffElement(diff, { versions: this.choices(), prefix: "compare" }));
    }
  }
}
