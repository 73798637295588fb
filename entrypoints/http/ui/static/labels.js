// Release labels on the agent page: where each label points, moving one (promote, roll back), protecting and
// deleting it, and its history. The rules are the API's (domain/labels.py); the page disables what the API would
// refuse for this caller and says why, shows in each move's confirmation what changes from the version the label
// names now to the one that replaces it, and sends every change with the label's ETag as the page read it.

import { LABELS, LIMITS } from "./domain.js";
import { api, ApiError } from "./api.js";
import { whatGoesLive } from "./changes.js";
import { focusOn, h, replace, time } from "./dom.js";

const { production: PRODUCTION, latest: LATEST } = LABELS;
const NAME = new RegExp(LABELS.name_pattern);
const NEW_LABEL = ""; // the label menu's "a new label" choice: no label's name is empty

/** A button's text with words only a screen reader reads ("Promote [staging] to production"), so that each of a
 * table's buttons has a name of its own. One span: a flex button would trim the spaces between separate parts. */
const spoken = (before, hidden, after = "") => h("span", {},
  before, h("span", { class: "visually-hidden" }, hidden), after);

/** A label as a badge: production, latest and the others look apart. */
export function labelBadge(label) {
  const kind = label.name === PRODUCTION ? "production" : label.read_only ? "latest" : "other";
  const about = label.name === PRODUCTION ? "the active version, always protected"
    : label.read_only ? "always the newest compiled version" : label.protected ? "protected" : "";
  return h("span", { class: `badge label label-${kind}`, title: about ? `${label.name}: ${about}` : null },
    label.name);
}

export class LabelsSection {
  constructor(page) {
    this.page = page; // the AgentPage: its agent, versions, labels (as read), ctx, refresh() and render()
    this.history = null; // {name, items, cursor}: the label whose history is open
    this.form = null; // the move form's controls, for prefill()
  }

  get ctx() {
    return this.page.ctx;
  }

  get labels() {
    return this.page.labels;
  }

  find(name) {
    return this.labels.find((label) => label.name === name) || null;
  }

  path(name) {
    return `${this.page.base}/labels/${encodeURIComponent(name)}`;
  }

  /** The label as the page read it, for If-Match: a change is refused (412) if it moved since. */
  ifMatch(label) {
    return label ? { "If-Match": `"${label.blueprint_id}"` } : {};
  }

  // -- what the caller may do, and why not ------------------------------------------------------------------------

  /** Why this caller may not move the label `name` (`label` as read, null if new), or null when it may. */
  whyNotMove(name, label) {
    if (this.page.frozen) return "The agent is deleted: its labels cannot change.";
    if (name === LATEST) return "latest always names the newest compiled version: it follows compiling, never a move.";
    if (this.ctx.canManage) return null;
    if (name === PRODUCTION) return "production is protected: only an owner or admin can move it.";
    if (label && label.protected) return `${name} is protected: only an owner or admin can move or delete it.`;
    return null;
  }

  whyNotDelete(label) {
    if (label.name === PRODUCTION) return "production cannot be deleted: deactivate the agent to stop serving it.";
    return this.whyNotMove(label.name, label);
  }

  whyNotProtect(label) {
    if (this.page.frozen) return "The agent is deleted: its labels cannot change.";
    if (label.name === PRODUCTION) return "production is always protected.";
    if (!this.ctx.canManage) return "Only an owner or admin can protect or unprotect a label.";
    return null;
  }

  whyNotPromote(label) {
    const production = this.find(PRODUCTION);
    if (production && production.blueprint_id === label.blueprint_id) {
      return `production already points at version ${label.version}.`;
    }
    return this.whyNotMove(PRODUCTION, production);
  }

  /** What a row's note says about the label: its rule, in the words that explain a disabled button. */
  ruleOf(label) {
    if (label.read_only) return "Read-only: always the newest compiled version.";
    if (label.name === PRODUCTION) {
      return this.ctx.canManage ? "The live version. Always protected; it cannot be deleted."
        : "The live version. Protected: only an owner or admin can move it; it cannot be deleted.";
    }
    if (label.protected) return "Protected: only an owner or admin can move or delete it.";
    return "Not protected: any role can move or delete it.";
  }

  // -- the section -------------------------------------------------------------------------------------------------

  render(el) {
    this.el = el;
    const intro = h("p", { class: "note" }, "A label names the version a runtime gets: ",
      h("code", {}, "GET …/prompt?label=staging"), ". production is the live version; latest follows compiling.");
    replace(el,
      h("div", { class: "title-row" }, h("h2", { id: "labels-heading" }, "Release labels")),
      this.labels.length ? [intro, this.renderTable()]
        : h("p", { class: "empty" }, "No labels yet: they point at compiled versions, and none is compiled yet."),
      this.renderForm(),
      this.history ? this.renderHistory() : null);
  }

  renderTable() {
    const production = this.find(PRODUCTION);
    const body = h("tbody", {});
    for (const label of this.labels) {
      const button = (text, reason, onclick, extra = {}) => h("button", {
        type: "button", class: `small ${extra.class || ""}`.trim(), disabled: Boolean(reason), title: reason,
        onclick,
      }, text);
      const actions = [];
      if (label.name !== PRODUCTION) {
        actions.push(button(spoken("Promote ", `${label.name} `, "to production"), this.whyNotPromote(label),
          (e) => this.move(PRODUCTION, production, this.targetOf(label), e.currentTarget, { from: label.name })));
      }
      actions.push(button(spoken("Move", ` ${label.name}`), this.whyNotMove(label.name, label),
        () => this.prefill({ name: label.name })));
      if (!label.read_only) {
        actions.push(button(spoken("History", ` of ${label.name}`), null,
          (e) => this.openHistory(label.name, e.currentTarget)));
        actions.push(label.protected
          ? button(spoken("Unprotect", ` ${label.name}`), this.whyNotProtect(label),
            (e) => this.protect(label, false, e.currentTarget))
          : button(spoken("Protect", ` ${label.name}`), this.whyNotProtect(label),
            (e) => this.protect(label, true, e.currentTarget)));
        actions.push(button(spoken("Delete", ` ${label.name}`), this.whyNotDelete(label),
          (e) => this.remove(label, e.currentTarget), { class: "danger" }));
      }
      body.append(h("tr", { "data-label-name": label.name },
        h("th", { scope: "row", "data-label": "Label" }, h("span", {}, labelBadge(label),
          label.protected && !label.read_only ? h("span", { class: "protected" }, "protected") : null)),
        h("td", { "data-label": "Version" },
          h("a", { href: `#/agents/${this.page.agentId}/versions/${label.blueprint_id}` }, `Version ${label.version}`)),
        h("td", { "data-label": label.read_only ? "Compiled" : "Moved" }, label.moved_at
          ? h("span", {}, time(label.moved_at), label.moved_by ? ` by ${label.moved_by}` : "")
          : h("span", { class: "muted" }, "—")),
        h("td", { "data-label": "Actions" },
          h("div", { class: "row-buttons" }, actions),
          h("p", { class: "note rule" }, this.ruleOf(label)))));
    }
    return h("table", { class: "labels responsive" },
      h("caption", { class: "visually-hidden" }, `Release labels of ${this.page.agent.name}`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Label"),
        h("th", { scope: "col" }, "Version"),
        h("th", { scope: "col" }, "Moved"),
        h("th", { scope: "col" }, "Actions"))),
      body);
  }

  targetOf(label) {
    return { id: label.blueprint_id, version: label.version };
  }

  // -- moving a label: the form ------------------------------------------------------------------------------------

  renderForm() {
    const page = this.page;
    const nameSelect = h("select", { id: "move-label" },
      this.labels.map((label) => h("option", { value: label.name, disabled: label.read_only },
        label.read_only ? `${label.name} (read-only)` : `${label.name}, now version ${label.version}`)),
      h("option", { value: NEW_LABEL }, "A new label…"));
    const newName = h("input", {
      type: "text", id: "new-label-name", autocomplete: "off", spellcheck: "false", autocapitalize: "off",
      maxlength: LABELS.name_chars, "aria-describedby": "new-label-error new-label-hint",
    });
    const nameError = h("p", { class: "field-error", id: "new-label-error", hidden: true });
    const newField = h("div", { class: "field" },
      h("label", { for: "new-label-name" }, "New label's name"),
      h("p", { class: "hint", id: "new-label-hint" }, "a–z, 0–9, “.”, “_”, “-”; for example staging or canary."),
      nameError, newName);
    const opened = page.selected; // opened from an address, it may be older than the versions listed so far
    const versions = opened && !page.versions.some((v) => v.id === opened.id) ? [...page.versions, opened]
      : page.versions;
    const versionOptions = versions.map((version) => {
      const status = version.compilation_status;
      const on = this.labels.filter((label) => label.blueprint_id === version.id).map((label) => label.name);
      let text = `Version ${version.version}`;
      if (status === "draft") text += " — draft: compile it first";
      else if (status === "failed") text += " — failed to compile";
      else if (on.length) text += ` (${on.join(", ")})`;
      return h("option", { value: version.id, disabled: status !== "compiled" }, text);
    });
    const compiled = versions.filter((version) => version.compilation_status === "compiled");
    const start = (opened && compiled.find((version) => version.id === opened.id)) || compiled[0];
    const versionSelect = h("select", { id: "move-version", "aria-describedby": "move-version-hint" }, versionOptions);
    versionSelect.value = start ? start.id : "";
    const movable = this.labels.find((label) => !label.read_only && !this.whyNotMove(label.name, label));
    nameSelect.value = movable && movable.name !== PRODUCTION ? movable.name : NEW_LABEL;
    const submit = h("button", { type: "submit", class: "primary", "aria-describedby": "move-note" }, "Move label");
    const note = h("p", { class: "note", id: "move-note", "aria-live": "polite" });

    const chosen = () => {
      const name = nameSelect.value === NEW_LABEL ? newName.value.trim() : nameSelect.value;
      const version = compiled.find((v) => v.id === versionSelect.value) || null;
      return { name, label: this.find(name), version };
    };
    const update = () => {
      newField.hidden = nameSelect.value !== NEW_LABEL;
      const { name, label, version } = chosen();
      let reason = null;
      if (page.frozen) reason = "The agent is deleted: its labels cannot change.";
      else if (!compiled.length) {
        reason = "No compiled version yet: compile one first. Drafts and failed versions cannot be labelled.";
      } else if (!name) reason = "Name the new label.";
      else reason = this.whyNotMove(name, label);
      if (!reason && label && version && label.blueprint_id === version.id) {
        reason = `${name} already points at version ${version.version}.`;
      }
      submit.disabled = Boolean(reason);
      const refused = Boolean(reason) && Boolean(name);
      let preview = "";
      if (!reason && version && NAME.test(name)) {
        preview = this.changeText(name, label, version);
      }
      replace(note, reason || preview);
      note.classList.toggle("refusal", refused);
    };
    nameSelect.addEventListener("change", update);
    versionSelect.addEventListener("change", update);
    newName.addEventListener("input", () => {
      nameError.hidden = true;
      newName.removeAttribute("aria-invalid");
      update();
    });

    const form = h("form", { class: "move-form", novalidate: true, "aria-labelledby": "move-heading" },
      h("h3", { id: "move-heading" }, "Move a label"),
      h("div", { class: "move-fields" },
        h("div", { class: "field" }, h("label", { for: "move-label" }, "Label"), nameSelect),
        newField,
        h("div", { class: "field" }, h("label", { for: "move-version" }, "To version"), versionSelect),
        h("div", { class: "field submit" }, submit)),
      h("p", { class: "hint", id: "move-version-hint" }, "Only a compiled version can carry a label; drafts and "
        + "failed versions are listed but cannot be chosen. Moving a label back is a rollback."),
      note);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { name, label, version } = chosen();
      if (!label && !NAME.test(name)) {
        replace(nameError, "Use 1 to 36 of a–z, 0–9, “.”, “_” and “-”, starting with a letter or digit.");
        nameError.hidden = false;
        newName.setAttribute("aria-invalid", "true");
        newName.focus();
        return;
      }
      if (!version || submit.disabled) return;
      this.move(name, label, version, submit);
    });
    this.form = { nameSelect, versionSelect, newName, update };
    update();
    return form;
  }

  /** Bring the move form forward with a label and/or a version chosen, and the focus on what is left to pick. */
  prefill({ name, versionId }) {
    const { nameSelect, versionSelect, newName, update } = this.form;
    if (name !== undefined) nameSelect.value = name;
    const option = versionId && [...versionSelect.options].find((o) => o.value === versionId && !o.disabled);
    if (option) versionSelect.value = versionId;
    update();
    const focus = name !== undefined ? versionSelect : nameSelect.value === NEW_LABEL ? newName : nameSelect;
    focus.scrollIntoView({ block: "center" });
    focus.focus();
  }

  /** "staging: version 3 → version 5"; production says what is replaced: "production: version 2 will be …". */
  changeText(name, label, version) {
    const to = version.version;
    if (!label) return name === PRODUCTION ? `production: nothing yet → version ${to}`
      : `${name}: a new label, at version ${to}`;
    return name === PRODUCTION ? `production: version ${label.version} will be replaced by version ${to}`
      : `${name}: version ${label.version} → version ${to}`;
  }

  // -- changes -----------------------------------------------------------------------------------------------------

  /** Move `name` (`label` as read; null: a new label) to `version` ({id, version}), after a confirmation that says
   * which version replaces which and what changes between them. `from`: the label being promoted; `rollback`: moving
   * back from the history. */
  async move(name, label, version, button, { from, rollback } = {}) {
    const to = version.version;
    const agentOff = this.page.agent.status !== "active"
      ? " The agent is deactivated, so no label is served until it is reactivated." : "";
    const change = h("p", { class: "change" }, this.changeText(name, label, version));
    const body = [change];
    if (name === PRODUCTION) {
      body.push(`After this, the agent's live prompt (what runtimes get from GET …/prompt) is version ${to}'s.`
        + agentOff);
    } else {
      body.push(`Runtimes asking for ${name} get the prompt of version ${to}.${agentOff}`);
    }
    if (label) body.push(`Version ${label.version} is kept, and this move goes into ${name}'s history.`);
    else if (name !== PRODUCTION) {
      body.push("It starts unprotected: any role can move it until an owner or admin protects it.");
    }
    const known = this.page.versions.find((v) => v.id === version.id);
    const note = known ? known.message : version.message;
    if (label) { // a new label replaces nothing: there is nothing to compare with
      const now = { id: label.blueprint_id, version: label.version };
      const title = name === PRODUCTION ? "What goes live" : `What changes for ${name}`;
      body.push(whatGoesLive(this.page.base, now, version, { note, title }));
    }
    let title = `Move ${name} to version ${to}?`;
    let confirm = `Move ${name}`;
    if (from) {
      title = `Promote ${from} to production?`;
      confirm = "Promote to production";
    } else if (rollback) {
      title = `Roll back ${name} to version ${to}?`;
      confirm = `Roll back ${name}`;
    }
    if (!(await this.ctx.confirm({ title, body, confirm, wide: Boolean(label) }))) return;
    button.disabled = true;
    try {
      await api("PUT", this.path(name), { body: { blueprint_id: version.id }, headers: this.ifMatch(label) });
      await this.reload();
      let done = `${name} now points at version ${to}.`;
      if (from) done = `Promoted: production is version ${to}, as ${from} is.`;
      else if (rollback) done = `Rolled back: ${name} is version ${to} again.`;
      if (name === PRODUCTION) done += this.page.agent.status === "active" ? " Its prompt is live." : "";
      this.ctx.notify(done);
      focusOn(document.getElementById("labels-heading"));
    } catch (error) {
      button.disabled = false;
      await this.failed(error, name);
    }
  }

  async protect(label, protect, button) {
    const name = label.name;
    const ok = await this.ctx.confirm(protect
      ? {
        title: `Protect ${name}?`,
        body: [`Only owners and admins can then move or delete ${name}. Everyone can still read it and its history.`],
        confirm: `Protect ${name}`,
      }
      : {
        title: `Unprotect ${name}?`,
        body: [`Any role, members too, can then move or delete ${name}.`],
        confirm: `Unprotect ${name}`,
        danger: true,
      });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("PATCH", this.path(name), { body: { protected: protect } });
      await this.reload();
      this.ctx.notify(protect ? `${name} is protected: only owners and admins can move or delete it.`
        : `${name} is no longer protected.`);
      focusOn(document.getElementById("labels-heading"));
    } catch (error) {
      button.disabled = false;
      await this.failed(error, name);
    }
  }

  async remove(label, button) {
    const name = label.name;
    const ok = await this.ctx.confirm({
      title: `Delete the label ${name}?`,
      body: [`It points at version ${label.version}. Once it is deleted, runtimes asking for ${name} get “not found”.`,
        `Version ${label.version} itself stays, and so does ${name}'s history; moving a label named ${name} again `
          + "creates it anew."],
      confirm: `Delete ${name}`,
      danger: true,
    });
    if (!ok) return;
    button.disabled = true;
    try {
      await api("DELETE", this.path(name), { headers: this.ifMatch(label) });
      await this.reload();
      this.ctx.notify(`The label ${name} is deleted.`);
      focusOn(document.getElementById("labels-heading"));
    } catch (error) {
      button.disabled = false;
      await this.failed(error, name);
    }
  }

  /** After a change: the whole page again (moving production changes the live version), the open history too. */
  async reload() {
    await this.page.refresh();
    if (this.history) await this.loadHistory(this.history.name);
    this.page.render();
  }

  /** A refusal; a 412 means someone moved the label since the page read it: the page reads it again and says so. */
  async failed(error, name) {
    if (!(error instanceof ApiError && error.status === 412)) {
      this.ctx.fail(error);
      return;
    }
    try {
      await this.reload();
    } catch (reloadError) {
      this.ctx.fail(reloadError);
      return;
    }
    const now = this.find(name);
    const where = now ? `it now points at version ${now.version}` : "it no longer exists";
    this.ctx.notify(`Someone moved ${name} meanwhile (${where}), so nothing was changed. The labels are reloaded: `
      + "check them, then try again.", "error");
    focusOn(document.getElementById("labels-heading"));
  }

  // -- a label's history -------------------------------------------------------------------------------------------

  async loadHistory(name, cursor = null) {
    const page = await api("GET", `${this.path(name)}/history`, { query: { limit: LIMITS.page_size, cursor } });
    const items = cursor && this.history ? [...this.history.items, ...page.items] : page.items;
    this.history = { name, items, cursor: page.next_cursor };
  }

  async openHistory(name, button) {
    button.disabled = true;
    try {
      await this.loadHistory(name);
      this.render(this.el);
      focusOn(document.getElementById("label-history-heading"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  async olderHistory(button) {
    button.disabled = true;
    try {
      const shown = this.history.items.length;
      await this.loadHistory(this.history.name, this.history.cursor);
      this.render(this.el);
      focusOn(this.el.querySelectorAll(".label-history tbody tr")[shown]?.querySelector("th"));
    } catch (error) {
      button.disabled = false;
      this.ctx.fail(error);
    }
  }

  renderHistory() {
    const { name, items, cursor } = this.history;
    const current = this.find(name);
    const body = h("tbody", {});
    items.forEach((move, index) => {
      let change;
      if (move.blueprint_id === null) change = `deleted (it was at version ${move.previous_version})`;
      else if (move.previous_blueprint_id === null) change = `created at version ${move.version}`;
      else change = `version ${move.previous_version} → version ${move.version}`;
      let action = null;
      if (move.blueprint_id !== null && current && move.blueprint_id === current.blueprint_id) {
        action = index === 0 ? h("span", { class: "badge now" }, "current") : null;
      } else if (move.blueprint_id !== null) {
        const back = !current || move.version < current.version;
        const target = { id: move.blueprint_id, version: move.version };
        const reason = this.whyNotMove(name, current);
        action = h("button", {
          type: "button", class: "small", disabled: Boolean(reason), title: reason,
          onclick: (e) => this.move(name, current, target, e.currentTarget, { rollback: back }),
        }, spoken(back ? "Roll back " : "Move back ", `${name} `, `to version ${move.version}`));
      }
      body.append(h("tr", {},
        h("th", { scope: "row", "data-label": "Move" }, `#${move.seq}`),
        h("td", { "data-label": "When" }, time(move.moved_at)),
        h("td", { "data-label": "By" }, move.moved_by),
        h("td", { "data-label": "Change" }, change),
        h("td", { "data-label": "" }, action)));
    });
    const close = h("button", {
      type: "button", class: "quiet",
      onclick: () => {
        this.history = null;
        this.render(this.el);
        focusOn(document.getElementById("labels-heading"));
      },
    }, "Close history");
    return h("section", { class: "label-history", "aria-labelledby": "label-history-heading" },
      h("div", { class: "title-row" },
        h("h3", { id: "label-history-heading" }, `History of ${name}`), close),
      items.length
        ? h("table", { class: "responsive" },
          h("caption", {}, `Every move of ${name}, newest first: who moved it, when, from which version to which.`),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Move"),
            h("th", { scope: "col" }, "When"),
            h("th", { scope: "col" }, "By"),
            h("th", { scope: "col" }, "Change"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Roll back")))),
          body)
        : h("p", { class: "empty" }, `No moves of ${name} are recorded: it was set before labels were kept.`),
      cursor ? h("button", { type: "button", onclick: (e) => this.olderHistory(e.currentTarget) }, "Show older moves")
        : null);
  }
}
