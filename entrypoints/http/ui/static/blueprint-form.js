// The blueprint editor: a form with one part per section, or the raw JSON; switching keeps the content, and
// whatever the form has no field for (unknown sections, unknown keys inside a section) is carried over verbatim.
// Compile violations name fields by path (`identity.name`, `tools[0].purpose`); the form shows each next to its field.
// The old system's shapes open in the form too (docs/blueprint-shapes.md): a plain-string item shows as an item with
// that one field, a field under its old name shows in the field; both are written back as they came unless edited.

import { focusOn, h, replace, uid } from "./dom.js";
import { SECTIONS as DOMAIN_SECTIONS, SHAPES, TYPES, OLD_ROW_COLUMNS } from "./domain.js";

// How the form presents the sections and fields the server states in ./domain.js (which ones, their shape and
// type, and which are required: all from the domain, never typed here). `long`: a text shown as a paragraph.
// A section or field missing from this table still shows, named after its key.
const PRESENTATION = {
  identity: {
    title: "Identity", hint: "Who the agent is.",
    fields: {
      name: { label: "Name", hint: "What the agent calls itself." },
      role: { label: "Role", hint: "For example: customer service assistant for a clothing store." },
      personality: { label: "Personality", long: true, hint: "Tone and manner: friendly, brief, patient." },
      primary_purpose: { label: "Primary purpose", long: true, hint: "The one job it exists for." },
    },
  },
  capabilities: {
    title: "Capabilities", item: "capability", hint: "The tasks it handles.",
    fields: {
      task: { label: "Task" },
      description: { label: "Description", long: true },
      examples: { label: "Example requests", hint: "One per line." },
    },
  },
  tools: {
    title: "Tools", item: "tool", hint: "Tools it may use.",
    fields: {
      name: { label: "Name", hint: "As the runtime knows it, e.g. inventory_lookup." },
      purpose: { label: "Purpose", long: true },
      triggers: { label: "Triggers", hint: "Words or events that call for it, one per line." },
    },
  },
  integrations: {
    title: "Integrations", item: "integration", hint: "Connected apps it can act through.",
    fields: {
      app: { label: "App" },
      actions: { label: "Actions", hint: "One per line." },
      triggers: { label: "Triggers", hint: "One per line." },
    },
  },
  knowledge_sources: {
    title: "Knowledge sources", item: "knowledge source", hint: "Where its knowledge comes from.",
    fields: {
      source: { label: "Source" },
      type: { label: "Type", hint: "For example: spreadsheet, website, document." },
      update_frequency: { label: "Update frequency", hint: "For example: daily." },
    },
  },
  monitoring: {
    title: "Monitoring", hint: "How it reports, and what it does when it cannot help.",
    fields: {
      reporting: { label: "Reporting", hint: "For example: weekly_summary." },
      fallbacks: { label: "Fallback", hint: "When it cannot help, e.g. escalate_to_human." },
    },
  },
  test_scenarios: {
    title: "Test scenarios", item: "test scenario", hint: "Requests it must handle, with the expected answer.",
    fields: {
      question: { label: "Question", long: true },
      expected: { label: "Expected answer", long: true },
    },
  },
  workflow: {
    title: "Workflow", hint: "The steps it works through.",
    fields: {
      steps: { label: "Steps", hint: "One step per line, in order." },
      visual_flow: { label: "Visual flow", long: true, hint: "For example: [Shopper] -> [Question]." },
    },
  },
};

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const capitalize = (text) => (text ? text[0].toUpperCase() + text.slice(1) : text);
const own = (table, key) => (Object.hasOwn(table, key) ? table[key] : {});
const humanize = (key) => capitalize(key.replaceAll("_", " "));
const article = (noun) => `${/^[aeiou]/.test(noun) ? "an" : "a"} ${noun}`;
const listed = (words) => (words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} and ${words.at(-1)}`);

/** What a section's required fields mean for its hint: "Name and role are needed to compile.", "Each needs a task." */
function needs(section) {
  const required = section.fields.filter((f) => f.required).map((f) => f.label.toLowerCase());
  if (!required.length) return "";
  if (section.kind === "object") {
    return `${capitalize(listed(required))} ${required.length > 1 ? "are" : "is"} needed to compile.`;
  }
  if (required.length === 2 && section.fields.length === 2) return "Each needs both.";
  return `Each needs ${listed(required.map(article))}.`;
}

// The form's sections: the domain's structure with the presentation above. Field kinds: "text" one line, "long" a
// paragraph, "lines" a list of texts, one per line.
export const SECTIONS = DOMAIN_SECTIONS.map((domain) => {
  const look = own(PRESENTATION, domain.key);
  const looks = look.fields || {};
  const fields = domain.fields.map(({ key, type, required, old_names: oldNames = [] }) => {
    const { label = humanize(key), hint, long } = own(looks, key);
    const kind = type === TYPES.TEXT_LIST ? "lines" : long ? "long" : "text";
    return { key, label, kind, required, hint, oldNames };
  });
  const section = {
    key: domain.key,
    title: look.title || humanize(domain.key),
    kind: domain.shape === SHAPES.OBJECT ? "object" : "list",
    item: look.item || domain.key.replaceAll("_", " ").replace(/s$/, ""),
    textItem: domain.text_item || null, // a plain-string item is an item with this field
    fields,
  };
  section.hint = [look.hint, needs(section)].filter(Boolean).join(" ");
  return section;
});

const KNOWN = new Set(SECTIONS.map((s) => s.key));
const OLD_ROW = new Set(OLD_ROW_COLUMNS);
const isBlank = (value) => value === undefined || value === null || (typeof value === "string" && !value.trim());

/** A list item as the form shows it: an object, or for a plain string the item it stands for; null otherwise. */
function itemObject(section, item) {
  if (isObject(item)) return item;
  return section.textItem && typeof item === "string" ? { [section.textItem]: item } : null;
}

/** Where a field's value is read from: its own key, or when that is blank an old name that holds something. */
function sourceKey(field, obj) {
  if (!isBlank(obj[field.key])) return field.key;
  return field.oldNames.find((old) => obj[old] !== undefined && obj[old] !== null) || field.key;
}

/** The document with known sections first, in the prompt's order, then the others as they were. */
export function ordered(doc) {
  const out = {};
  for (const { key } of SECTIONS) if (key in doc) out[key] = doc[key];
  for (const key of Object.keys(doc)) if (!KNOWN.has(key)) out[key] = doc[key];
  return out;
}

/** Why the form cannot show a document faithfully (wrong types, texts with line breaks in a one-per-line field). */
export function formProblems(doc) {
  const problems = [];
  const checkFields = (section, obj, path) => {
    for (const field of section.fields) {
      const key = sourceKey(field, obj);
      const value = obj[key];
      const where = `${path}.${key}`;
      if (value === null || value === undefined) continue;
      if (field.kind !== "lines") {
        if (typeof value !== "string") problems.push(`${where} is not text`);
      } else if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        problems.push(`${where} is not a list of texts`);
      } else if (value.some((v) => v.includes("\n"))) {
        problems.push(`${where} has an entry with a line break`);
      }
    }
  };
  for (const section of SECTIONS) {
    const value = doc[section.key];
    if (value === null || value === undefined) continue;
    if (section.kind === "object") {
      if (isObject(value)) checkFields(section, value, section.key);
      else problems.push(`${section.key} is not an object`);
    } else if (!Array.isArray(value)) {
      problems.push(`${section.key} is not a list`);
    } else {
      value.forEach((item, i) => {
        const obj = itemObject(section, item);
        if (obj) checkFields(section, obj, `${section.key}[${i}]`);
        else if (item !== null) problems.push(`${section.key}[${i}] is not an object`);
      });
    }
  }
  return problems;
}

function parentPath(path) {
  const cut = path.endsWith("]") ? path.lastIndexOf("[") : path.lastIndexOf(".");
  return cut > 0 ? path.slice(0, cut) : "";
}

export class BlueprintEditor {
  /** `readOnly`: fields can be read, selected and copied but not changed. */
  constructor({ readOnly = false } = {}) {
    this.readOnly = readOnly;
    this.prefix = uid("bp");
    this.mode = "form";
    this.dirty = false;
    this.onchange = null;
    this.extraSections = {}; // unknown top-level sections, verbatim
    this.objectExtras = {}; // unknown keys inside identity, monitoring, workflow
    this.controls = new Map(); // path -> input, textarea, or the fieldset of a row or section
    this.labels = new Map(); // path -> what a person calls it ("Tool 1 › Purpose")
    this.errorSlots = new Map(); // path -> the element that shows its violations
    this.violations = [];
    this.summaryHeading = "";
    this.build();
    this.renderForm({});
  }

  // -- structure ---------------------------------------------------------------------------------------------

  build() {
    const name = `${this.prefix}-mode`;
    const radio = (value, text) => {
      const id = `${this.prefix}-mode-${value}`;
      return h("span", { class: "segment" },
        h("input",
          { type: "radio", name, id, value, checked: value === this.mode, onchange: () => this.switchTo(value) }),
        h("label", { for: id }, text));
    };
    this.modeError = h("p", { class: "field-error", id: `${this.prefix}-mode-error`, hidden: true });
    this.switcher = h("fieldset", { class: "mode-switch" },
      h("legend", {}, this.readOnly ? "Show the blueprint as" : "Write the blueprint as"),
      h("div", { class: "segments" }, radio("form", "Form"), radio("json", "JSON")));
    this.summary = h("div", { class: "error-summary", hidden: true, tabindex: "-1" });
    this.formEl = h("div", { class: "bp-form" });
    this.extrasNote = h("p", { class: "note", hidden: true });
    const jsonId = `${this.prefix}-json`;
    this.jsonError = h("p", { class: "field-error", id: `${jsonId}-error`, hidden: true });
    this.jsonArea = h("textarea", {
      id: jsonId, class: "code", rows: 24, spellcheck: "false", autocapitalize: "off",
      readonly: this.readOnly, "aria-describedby": `${jsonId}-hint ${jsonId}-error`,
    });
    this.jsonEl = h("div", { class: "bp-json field", hidden: true },
      h("label", { for: jsonId }, "Blueprint JSON"),
      h("p", { class: "hint", id: `${jsonId}-hint` },
        "One JSON object. Sections the form does not know are kept as they are."),
      this.jsonError, this.jsonArea);
    this.element = h("div", { class: `bp-editor${this.readOnly ? " readonly" : ""}` },
      this.switcher, this.modeError, this.summary, this.formEl, this.extrasNote, this.jsonEl);
    this.element.addEventListener("input", (event) => {
      if (event.target.name === name) return;
      this.touch();
    });
  }

  touch() {
    this.dirty = true;
    if (this.onchange) this.onchange();
  }

  controlId(path) {
    return `${this.prefix}-${path.replace(/[^A-Za-z0-9]+/g, "-")}`;
  }

  renderForm(doc) {
    this.controls.clear();
    this.labels.clear();
    this.errorSlots.clear();
    this.extraSections = {};
    for (const [key, value] of Object.entries(doc)) if (!KNOWN.has(key)) this.extraSections[key] = value;
    this.objectExtras = {};
    replace(this.formEl, SECTIONS.map((section) => this.sectionElement(section, doc[section.key])));
    const extra = Object.keys(this.extraSections);
    this.extrasNote.hidden = extra.length === 0;
    const oldRow = extra.filter((key) => OLD_ROW.has(key));
    replace(this.extrasNote, extra.length
      ? [`Also in this blueprint, kept as they are (see JSON): ${extra.join(", ")}.`,
        oldRow.length ? ` The compiler reads ${oldRow.length === extra.length ? "them" : listed(oldRow)} as the old `
          + "system's agent row (its role, tools and knowledge, and the agent's name): fill in here what it lacks."
          : ""]
      : []);
  }

  sectionElement(section, value) {
    const id = this.controlId(section.key);
    const slot = this.errorSlot(section.key);
    const hintId = section.hint ? `${id}-hint` : null;
    const fieldset = h("fieldset",
      { class: `section section-${section.kind}`, id, "aria-describedby": [hintId, slot.id].filter(Boolean).join(" ") },
      h("legend", {}, h("h3", {}, section.title)),
      section.hint ? h("p", { class: "hint", id: hintId }, section.hint) : null,
      slot);
    this.register(section.key, fieldset, section.title, slot);
    if (section.kind === "object") {
      const obj = isObject(value) ? value : {};
      this.objectExtras[section.key] = unknownKeys(section, obj);
      const grid = h("div", { class: "fields" });
      for (const field of section.fields) {
        const label = `${section.title} › ${field.label}`;
        grid.append(this.fieldElement(field, `${section.key}.${field.key}`, label, obj[field.key]));
      }
      if (this.readOnly && !grid.querySelector(".field:not(.blank)")) {
        fieldset.append(h("p", { class: "empty" }, "None."));
      }
      fieldset.append(grid);
    } else {
      const rows = h("ol", { class: "rows" });
      const items = Array.isArray(value) ? value.filter((item) => itemObject(section, item)) : [];
      items.forEach((item, i) => rows.append(this.rowElement(section, i, item)));
      fieldset.append(rows);
      if (this.readOnly) {
        if (!items.length) fieldset.append(h("p", { class: "empty" }, "None."));
      } else {
        fieldset.append(h("button", { type: "button", class: "add", onclick: () => this.addRow(section) },
          `Add ${article(section.item)}`));
      }
    }
    return fieldset;
  }

  rowElement(section, index, item) {
    const path = `${section.key}[${index}]`;
    const title = `${capitalize(section.item)} ${index + 1}`;
    const id = this.controlId(path);
    const slot = this.errorSlot(path);
    const fieldset = h("fieldset", { class: "row", id, "aria-describedby": slot.id }, h("legend", {}, title), slot);
    const obj = itemObject(section, item);
    fieldset.plain = typeof item === "string"; // written back as a string while only its one field is filled
    fieldset.sourceKeys = Object.fromEntries(section.fields.map((field) => [field.key, sourceKey(field, obj)]));
    const shown = new Set(Object.values(fieldset.sourceKeys));
    const extras = Object.entries(unknownKeys(section, obj)).filter(([key]) => !shown.has(key));
    fieldset.extras = Object.fromEntries(extras);
    this.register(path, fieldset, title, slot);
    const grid = h("div", { class: "fields" });
    for (const field of section.fields) {
      const value = obj[fieldset.sourceKeys[field.key]];
      grid.append(this.fieldElement(field, `${path}.${field.key}`, `${title} › ${field.label}`, value));
    }
    fieldset.append(grid);
    if (!this.readOnly) {
      fieldset.append(h("div", { class: "row-actions" },
        h("button", { type: "button", class: "quiet danger", "aria-label": `Remove ${section.item} ${index + 1}`,
          onclick: () => this.removeRow(section, index) }, "Remove")));
    }
    return h("li", {}, fieldset);
  }

  fieldElement(field, path, label, value) {
    const id = this.controlId(path);
    const slot = this.errorSlot(path);
    const hintId = field.hint ? `${id}-hint` : null;
    const described = [hintId, slot.id].filter(Boolean).join(" ");
    let control;
    if (field.kind === "text" && !this.readOnly) {
      control = h("input", { type: "text", id, value: typeof value === "string" ? value : "" });
    } else if (field.kind === "text") { // read-only, a long text wraps instead of being cut off
      control = h("textarea", { id, rows: 1, value: typeof value === "string" ? value : "" });
    } else {
      const text = field.kind === "lines"
        ? (Array.isArray(value) ? value.filter((v) => typeof v === "string").join("\n") : "")
        : (typeof value === "string" ? value : "");
      const lines = text.split("\n").length;
      const rows = Math.min(12, Math.max(field.kind === "lines" ? 3 : 2, lines + 1));
      control = h("textarea", { id, rows, value: text });
    }
    control.setAttribute("aria-describedby", described);
    control.dataset.path = path;
    control.dataset.kind = field.kind;
    if (this.readOnly) control.readOnly = true;
    this.register(path, control, label, slot);
    const blank = !control.value.trim(); // read-only, a blank field is left out unless a violation names it
    return h("div", { class: `field${field.kind === "text" ? "" : " wide"}${blank ? " blank" : ""}` },
      h("label", { for: id }, field.label, field.required ? h("span", { class: "required" }, " required") : null),
      field.hint ? h("p", { class: "hint", id: hintId }, field.hint) : null,
      slot, control);
  }

  errorSlot(path) {
    return h("p", { class: "field-error", id: `${this.controlId(path)}-error`, hidden: true });
  }

  register(path, el, label, slot) {
    this.controls.set(path, el);
    this.labels.set(path, label);
    this.errorSlots.set(path, slot);
  }

  // -- rows ----------------------------------------------------------------------------------------------------

  readSection(section) {
    const fieldset = this.controls.get(section.key);
    const rows = fieldset.querySelectorAll(":scope > .rows > li > fieldset.row");
    return [...rows].map((row) => this.readRow(section, row));
  }

  readRow(section, row) {
    const obj = { ...row.extras };
    for (const field of section.fields) {
      const control = row.querySelector(`[data-path$=".${field.key}"]`);
      const value = readControl(control);
      if (value !== undefined) obj[(row.sourceKeys && row.sourceKeys[field.key]) || field.key] = value;
    }
    const keys = Object.keys(obj);
    return row.plain && keys.length === 1 && keys[0] === section.textItem ? obj[section.textItem] : obj;
  }

  rerenderSection(section, items) {
    const old = this.controls.get(section.key);
    for (const path of [...this.controls.keys()]) {
      if (path === section.key || path.startsWith(`${section.key}[`) || path.startsWith(`${section.key}.`)) {
        this.controls.delete(path);
        this.labels.delete(path);
        this.errorSlots.delete(path);
      }
    }
    const fresh = this.sectionElement(section, items);
    old.replaceWith(fresh);
    const inSection = (v) => v.field === section.key || v.field.startsWith(`${section.key}[`);
    this.violations = this.violations.filter((v) => !inSection(v));
    this.renderViolations();
    return fresh;
  }

  addRow(section) {
    const items = this.readSection(section);
    items.push({});
    this.rerenderSection(section, items);
    this.controls.get(`${section.key}[${items.length - 1}].${section.fields[0].key}`).focus();
    this.touch();
  }

  removeRow(section, index) {
    const items = this.readSection(section);
    items.splice(index, 1);
    const fresh = this.rerenderSection(section, items);
    const next = this.controls.get(`${section.key}[${Math.min(index, items.length - 1)}].${section.fields[0].key}`);
    (next || fresh.querySelector("button.add")).focus();
    this.touch();
  }

  // -- content -------------------------------------------------------------------------------------------------

  readForm() {
    const doc = {};
    for (const section of SECTIONS) {
      if (section.kind === "object") {
        const obj = { ...this.objectExtras[section.key] };
        for (const field of section.fields) {
          const value = readControl(this.controls.get(`${section.key}.${field.key}`));
          if (value !== undefined) obj[field.key] = value;
        }
        if (Object.keys(obj).length) doc[section.key] = obj;
      } else {
        const items = this.readSection(section);
        if (items.length) doc[section.key] = items;
      }
    }
    return Object.assign(doc, this.extraSections);
  }

  /** Show a document; one the form cannot show faithfully opens as JSON. */
  load(doc) {
    const problems = formProblems(doc);
    this.dirty = false;
    this.modeError.hidden = true;
    this.jsonError.hidden = true;
    this.jsonArea.removeAttribute("aria-invalid");
    this.jsonArea.value = JSON.stringify(ordered(doc), null, 2);
    if (problems.length) {
      this.renderForm({});
      this.setMode("json");
      const some = problems.slice(0, 3).join("; ");
      this.showModeError(`The form cannot show this blueprint (${some}), so it is shown as JSON.`);
    } else {
      this.renderForm(doc);
      this.setMode(this.mode);
    }
    this.renderViolations();
  }

  /** The document as written now; throws an Error with a message for a person when the JSON does not parse. */
  value() {
    if (this.mode === "form") return this.readForm();
    const doc = this.parseJson();
    if (doc === null) {
      focusOn(this.jsonArea);
      throw new Error(this.jsonError.textContent);
    }
    return doc;
  }

  parseJson() {
    let doc;
    try {
      doc = JSON.parse(this.jsonArea.value);
    } catch (error) {
      this.showJsonError(`This is not valid JSON: ${error.message}`);
      return null;
    }
    if (!isObject(doc)) {
      this.showJsonError("The blueprint must be one JSON object, { … }.");
      return null;
    }
    this.jsonError.hidden = true;
    this.jsonArea.removeAttribute("aria-invalid");
    return doc;
  }

  showJsonError(message) {
    this.jsonError.textContent = message;
    this.jsonError.hidden = false;
    this.jsonArea.setAttribute("aria-invalid", "true");
  }

  showModeError(message) {
    this.modeError.textContent = message;
    this.modeError.hidden = false;
  }

  isEmpty() {
    try {
      return Object.keys(this.value()).length === 0;
    } catch {
      return false;
    }
  }

  switchTo(mode) {
    if (mode === this.mode) return;
    this.modeError.hidden = true;
    if (mode === "json") {
      this.jsonArea.value = JSON.stringify(ordered(this.readForm()), null, 2);
      this.jsonError.hidden = true;
      this.jsonArea.removeAttribute("aria-invalid");
      this.setMode("json");
    } else {
      const doc = this.parseJson();
      const problems = doc === null ? [] : formProblems(doc);
      if (doc === null || problems.length) {
        this.showModeError(problems.length
          ? `The form cannot show this JSON: ${problems.join("; ")}. Fix it here first.`
          : "Fix the JSON first: the form can only show a valid JSON object.");
        this.setMode("json");
        return;
      }
      this.renderForm(doc);
      this.setMode("form");
    }
    this.renderViolations();
  }

  setMode(mode) {
    this.mode = mode;
    for (const input of this.switcher.querySelectorAll("input")) input.checked = input.value === mode;
    this.formEl.hidden = mode !== "form";
    this.extrasNote.hidden = mode !== "form" || Object.keys(this.extraSections).length === 0;
    this.jsonEl.hidden = mode !== "json";
  }

  // -- violations ------------------------------------------------------------------------------------------------

  /** Show violations ([{field, message}]) next to their fields and in a summary headed `heading`. */
  showViolations(violations, heading) {
    this.violations = [...(violations || [])];
    this.summaryHeading = heading || "";
    this.renderViolations();
  }

  clearViolations() {
    this.showViolations([], "");
  }

  /** The nearest field, row or section the form has for a path: `tools[0].triggers[2]` shows at `tools[0].triggers`. */
  locate(path) {
    for (let p = path; p; p = parentPath(p)) if (this.controls.has(p)) return p;
    return null;
  }

  renderViolations() {
    for (const slot of this.errorSlots.values()) {
      slot.hidden = true;
      slot.replaceChildren();
    }
    for (const el of this.controls.values()) el.removeAttribute("aria-invalid");
    this.summary.hidden = this.violations.length === 0;
    if (!this.violations.length) {
      this.summary.replaceChildren();
      return;
    }
    const items = this.violations.map((violation) => {
      const at = this.locate(violation.field);
      const exact = at === violation.field;
      const message = capitalize(violation.message);
      if (at) {
        const slot = this.errorSlots.get(at);
        slot.hidden = false;
        slot.append(h("span", {}, exact ? message : `${violation.field}: ${message}`));
        this.controls.get(at).setAttribute("aria-invalid", "true");
      }
      const where = exact ? this.labels.get(at) : violation.field || "The whole blueprint";
      if (at && this.mode === "form") {
        const target = this.controls.get(at);
        return h("li", {}, h("a", {
          href: `#${target.id}`,
          onclick: (event) => {
            event.preventDefault();
            target.scrollIntoView({ block: "center" });
            target.focus();
          },
        }, `${where}: ${message}`));
      }
      return h("li", {}, `${where}: ${message}`);
    });
    replace(this.summary, h("h3", {}, this.summaryHeading || "Problems"), h("ul", {}, items));
  }
}

function unknownKeys(section, obj) {
  return Object.fromEntries(Object.entries(obj).filter(([key]) => !section.fields.some((f) => f.key === key)));
}

function readControl(control) {
  if (!control) return undefined;
  if (control.dataset.kind === "lines") {
    const lines = control.value.split("\n").map((line) => line.trim()).filter(Boolean);
    return lines.length ? lines : undefined;
  }
  const text = control.value.trim();
  return text ? text : undefined;
}
