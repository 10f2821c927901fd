// What the studio's template editor imports from CodeMirror 6: one ES module, built by
// esbuild (see ../README.md). Only names listed here end up in the bundle.
export { Decoration, EditorView, keymap, MatchDecorator, ViewPlugin } from "@codemirror/view";
export { EditorState } from "@codemirror/state";
export { basicSetup } from "codemirror";
export { xml } from "@codemirror/lang-xml";
export { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
export { tags } from "@lezer/highlight";
export { lintGutter, setDiagnostics } from "@codemirror/lint";
export { indentWithTab } from "@codemirror/commands";
