/* Template editor: CodeMirror over the page's textarea, a live preview as you type, and
   problems shown at their line. The form around it works without this script (Preview and
   Save post the whole page); with it, the draft is posted to the render URL 300 ms after the
   last change and the answer swaps the preview pane in, and Save answers in place. */
import {
  basicSetup, Decoration, EditorView, HighlightStyle, indentWithTab, keymap, lintGutter,
  MatchDecorator, setDiagnostics, syntaxHighlighting, tags, ViewPlugin, xml,
} from "./vendor/codemirror.js";

const DEBOUNCE_MS = 300;
const form = document.getElementById("editor-form");
const textarea = document.getElementById("source");
const pane = document.getElementById("editor-preview");
const status = document.getElementById("editor-status");
const saveMessage = document.getElementById("save-message");
const shown = form.dataset.shown;
let timer = null;
let sequence = 0;
let dirty = false;

// {{ ... }}, {% ... %} and {# ... #} stand out from the MJML around them.
const jinjaMarks = new MatchDecorator({
  regexp: /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g,
  decoration: Decoration.mark({ class: "cm-jinja" }),
});
const jinja = ViewPlugin.fromClass(
  class {
    constructor(view) { this.decorations = jinjaMarks.createDeco(view); }
    update(update) { this.decorations = jinjaMarks.updateDeco(update, this.decorations); }
  },
  { decorations: (plugin) => plugin.decorations },
);

// Colours with at least 4.5:1 contrast on the editor's white (CodeMirror's own are lighter).
const readable = HighlightStyle.define([
  { tag: [tags.tagName, tags.angleBracket], color: "#1d4f91" },
  { tag: tags.attributeName, color: "#6b3597" },
  { tag: [tags.attributeValue, tags.string], color: "#9a2318" },
  { tag: tags.comment, color: "#5b6573", fontStyle: "italic" },
  { tag: [tags.processingInstruction, tags.documentMeta], color: "#5b6573" },
  { tag: tags.invalid, color: "#a1221a" },
]);

const editor = new EditorView({
  doc: textarea.value,
  extensions: [
    EditorView.cspNonce.of(form.dataset.styleNonce || ""),
    basicSetup,
    xml(),
    syntaxHighlighting(readable),
    jinja,
    lintGutter(),
    keymap.of([indentWithTab]),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ "aria-label": `MJML source of ${shown}` }),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) {
        textarea.value = update.state.doc.toString();
        dirty = true;
        schedule();
      }
    }),
  ],
});
textarea.hidden = true;
textarea.after(editor.dom);
editor.dom.classList.add("code-editor");

function schedule() {
  window.clearTimeout(timer);
  status.textContent = "Changed…";
  timer = window.setTimeout(render, DEBOUNCE_MS);
}

function draft(action) {
  textarea.value = editor.state.doc.toString();
  const data = new FormData(form);
  if (action) {
    data.set("action", action);
  }
  return data;
}

function diagnostics(problems) {
  const doc = editor.state.doc;
  const found = [];
  for (const problem of problems) {
    if (!problem.here || !problem.line || problem.line > doc.lines) {
      continue;
    }
    const line = doc.line(problem.line);
    const from = Math.min(line.from + Math.max((problem.column || 1) - 1, 0), line.to);
    const to = from < line.to ? line.to : Math.min(from + 1, doc.length);
    found.push({ from, to, severity: "error", message: problem.message });
  }
  editor.dispatch(setDiagnostics(editor.state, found));
  return found.length;
}

function show(answer) {
  pane.innerHTML = answer.html;
  const inline = diagnostics(answer.problems);
  const count = answer.problems.length;
  const timing = answer.elapsed_ms !== undefined ? ` · rendered in ${answer.elapsed_ms} ms` : "";
  status.textContent = count
    ? `${count} problem${count === 1 ? "" : "s"}${inline ? `, ${inline} marked in the source` : ""}${timing}`
    : `No problems${timing}`;
  status.dataset.state = count ? "problems" : "ok";
}

async function render() {
  const mine = ++sequence;
  status.textContent = "Rendering…";
  try {
    const response = await window.studio.post(form.dataset.renderUrl, draft());
    const answer = await response.json();
    if (mine !== sequence) {
      return; // a newer draft is on its way
    }
    if (!response.ok) {
      status.textContent = answer.error || `Not rendered (HTTP ${response.status})`;
      status.dataset.state = "problems";
      return;
    }
    show(answer);
  } catch (error) {
    status.textContent = `Not rendered: ${error.message}`;
  }
}

async function save() {
  window.clearTimeout(timer);
  const mine = ++sequence;
  status.textContent = "Saving…";
  const response = await window.studio.post(form.getAttribute("action"), draft("save"));
  const answer = await response.json();
  if (mine !== sequence) {
    return;
  }
  const alert = document.createElement("div");
  if (!response.ok) {
    alert.className = "alert alert-error";
    alert.textContent = answer.error;
    status.textContent = "Not saved";
  } else {
    show(answer);
    alert.className = answer.saved ? "alert alert-ok" : "alert alert-error";
    alert.textContent = answer.saved
      ? answer.message
      : "Not saved: fix the problems listed beside the preview first.";
    if (answer.saved) {
      form.elements.version.value = answer.version;
      form.elements.workflow_version.value = answer.workflow_version;
      dirty = false;
    }
  }
  saveMessage.replaceChildren(alert);
}

form.addEventListener("submit", (event) => {
  const action = event.submitter ? event.submitter.value : "preview";
  event.preventDefault();
  event.stopPropagation();
  if (action === "save") {
    save();
  } else {
    render();
  }
});

for (const name of ["subject", "preheader", "sample", "customer_email"]) {
  const field = form.elements[name];
  if (field) {
    field.addEventListener(field.tagName === "SELECT" ? "change" : "input", schedule);
  }
}

const use = form.elements.use;
if (use) {
  use.addEventListener("change", () => {
    if (dirty && !window.confirm("Leave your unsaved changes to preview as another step?")) {
      return;
    }
    window.location.search = `?use=${encodeURIComponent(use.value)}`;
  });
}

window.addEventListener("beforeunload", (event) => {
  if (dirty) {
    event.preventDefault();
  }
});
