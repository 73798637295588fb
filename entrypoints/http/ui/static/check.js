// "Check" in the blueprint editor: the dry run (POST /org-agents/blueprints/preview) of what is written now, before
// anything is saved. Its violations show next to their fields, as a failed compile's do; its warnings and, when it
// compiles, the prompt it would give show below the button. Any role may check: nothing is written.

import { api, ApiError } from "./api.js";
import { focusOn, h, replace } from "./dom.js";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const said = (v) => (v.field ? `${v.field}: ${v.message}` : v.message);

export class BlueprintCheck {
  /** `ctx`: the page's notify and fail; `editor`: the BlueprintEditor whose content is checked; `agentId`: the
   *  agent it would be a version of (checked as its compile would read it), none for a new agent. */
  constructor(ctx, editor, agentId = null) {
    this.ctx = ctx;
    this.editor = editor;
    this.agentId = agentId;
    this.checked = false; // a result is shown, for the content as it was then
    this.button = h("button", {
      type: "button", id: "check-blueprint", "aria-describedby": "check-hint", onclick: () => this.run(),
    }, "Check");
    this.result = h("div", { class: "check-result", id: "check-result", tabindex: "-1", hidden: true });
    this.element = h("div", { class: "check" },
      h("div", { class: "actions" }, this.button,
        h("p", { class: "hint", id: "check-hint" }, "Would it compile? Checking saves nothing.")),
      h("div", { "aria-live": "polite" }, this.result));
    editor.onchange = () => this.stale();
  }

  /** After an edit, a result no longer speaks for what is written: it says so, and the problems stay marked. */
  stale() {
    if (!this.checked) return;
    this.checked = false;
    this.result.classList.add("stale");
    const verdict = this.result.querySelector(".verdict");
    if (verdict) verdict.append(h("span", { class: "stale-note" }, " (changed since: check again)"));
  }

  async run() {
    let doc;
    try {
      doc = this.editor.value();
    } catch (error) {
      this.ctx.notify(error.message, "error");
      return;
    }
    this.button.disabled = true;
    this.result.hidden = false;
    this.result.className = "check-result";
    replace(this.result, h("p", { class: "loading" }, "Checking…"));
    try {
      const body = this.agentId ? { agent_blueprint: doc, agent_id: this.agentId } : { agent_blueprint: doc };
      const out = await api("POST", "/org-agents/blueprints/preview", { body });
      this.show(out);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.errors.length) {
        this.showRefusal(error.errors);
      } else {
        this.result.hidden = true;
        this.ctx.fail(error);
      }
    } finally {
      this.button.disabled = false;
    }
  }

  show(out) {
    const warnings = out.warnings || [];
    const warned = warnings.length ? h("div", { class: "warnings" },
      h("h4", {}, plural(warnings.length, "warning", "warnings")),
      h("ul", {}, warnings.map((w) => h("li", {}, said(w))))) : null;
    this.checked = true;
    if (out.compilation_status === "compiled") {
      this.editor.clearViolations();
      this.result.classList.add("ok");
      replace(this.result,
        h("p", { class: "verdict" }, "Looks good: it compiles."),
        warned,
        h("details", {}, h("summary", {}, "Show the prompt it gives"),
          h("pre", { class: "prompt", tabindex: "0" }, out.compiled_system_prompt || "")));
      focusOn(this.result);
      return;
    }
    const errors = out.errors || [];
    const problems = plural(errors.length, "problem", "problems");
    this.editor.showViolations(errors, `Checked: ${problems} to fix before it compiles`);
    this.result.classList.add("bad");
    replace(this.result,
      h("p", { class: "verdict" }, `It does not compile yet: ${problems}, shown next to their fields.`),
      warned);
    focusOn(this.editor.summary);
  }

  /** A document the API would not even save (a section of the wrong type): the same violations, marked the same way. */
  showRefusal(errors) {
    const problems = plural(errors.length, "problem", "problems");
    this.checked = true;
    this.editor.showViolations(errors, `It cannot be saved as it is: ${problems}`);
    this.result.classList.add("bad");
    replace(this.result, h("p", { class: "verdict" }, `It cannot be saved as it is: ${problems}, `
      + "shown next to their fields."));
    focusOn(this.editor.summary);
  }
}
