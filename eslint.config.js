import path from "node:path";
import { fileURLToPath } from "node:url";
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The layers of src/ (issue 11 §4), checked so a wrong import fails `npm test`. Each entry lists
 * the top-level src folders a layer must not import; `except` names the modules of such a folder
 * it may still use today (see README "Architecture"). Relative imports only: src/ has no aliases.
 */
const LAYERS = [
  { layer: "cli", forbid: ["server", "engine", "kernel", "state", "gen"], why: "mfcctl depends only on src/sdk and src/shared" },
  { layer: "sdk", forbid: ["server", "engine", "kernel", "state", "cli"], why: "the SDK depends only on src/gen and src/shared" },
  {
    layer: "kernel",
    forbid: ["server", "engine", "sdk", "cli", "gen", "state"],
    // The kernel implements the engine's port: that interface is the one way up.
    except: { engine: ["kernel-port"] },
    why: "src/kernel talks to Linux and implements the engine's KernelPort; it knows nothing above it",
  },
  {
    layer: "engine",
    forbid: ["server", "sdk", "cli", "gen", "kernel", "state"],
    why: "the engine reaches the kernel only through KernelPort and knows nothing of gRPC or the CLI",
  },
  {
    layer: "shared",
    forbid: ["server", "sdk", "cli", "state", "engine", "kernel"],
    // Two kernel limits the validator checks against, defined where the kernel code uses them (the
    // pure src/kernel/abi: mfcctl bundles src/shared and must load no native code).
    except: { engine: ["vif-table"], kernel: ["abi/index"] },
    why: "src/shared is used by mfcd and mfcctl alike and depends on no layer but src/address and src/gen",
  },
  {
    layer: "address",
    forbid: ["server", "sdk", "cli", "state", "engine", "kernel", "shared", "gen"],
    why: "src/address is pure address code every layer uses; it depends on nothing",
  },
  { layer: "server", forbid: ["cli"], why: "the daemon never depends on the CLI" },
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A relative specifier into src/<folder>, except the listed modules of it. */
function folderRegex(folder, except = []) {
  const allowed = except.map((m) => `(?!${escape(m)}(\\.js)?$)`).join("");
  return `^(\\.\\./)+${folder}(/${allowed}|$)`;
}

function layerRules({ layer, forbid, except = {}, why }) {
  const message = `${why} (issue 11 §4; the layer rules are in eslint.config.js)`;
  const patterns = forbid.map((folder) => ({ regex: folderRegex(folder, except[folder]), message }));
  // no-restricted-imports does not see import(): the same rule for dynamic imports. esquery's
  // regex literal cannot contain "/", so \W stands for it.
  const dynamic = forbid.map((folder) => ({
    selector: `ImportExpression[source.value=/${folderRegex(folder, except[folder]).replaceAll("/", "\\W")}/]`,
    message,
  }));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: { "no-restricted-imports": ["error", { patterns }], "no-restricted-syntax": ["error", ...dynamic] },
  };
}

/**
 * src/kernel and src/server are grouped in subfolders by concern (issue 11); each subfolder's
 * index.ts is its one entry point. A module outside a subfolder (another subfolder, the layer's
 * own index.ts or main.ts, another layer) imports it only through that index.ts; modules of one
 * subfolder import each other directly. Relative specifiers are resolved against the importing
 * file, so the rule holds at any depth. Tests and bench may import internal files they test.
 * Why a rule of our own (25 lines): no-restricted-imports matches the specifier's text, not the
 * file it resolves to, so a sibling's "./x.js" and another subfolder's "../nft/x.js" cannot be
 * told apart at every depth; eslint-plugin-import's no-restricted-paths would need a TypeScript
 * resolver plugin (".js" specifiers name ".ts" files) and one zone per subfolder.
 */
const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), "src");
const GROUPED = ["kernel", "server"];

const throughIndexRule = {
  meta: {
    type: "problem",
    schema: [],
    messages: { deep: "import {{folder}} through its index.ts, not {{file}} (issue 11; the layer rules are in eslint.config.js)" },
  },
  create(context) {
    const check = (node) => {
      const spec = node?.value;
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const target = path.resolve(path.dirname(context.filename), spec);
      const [layer, sub, file, ...deeper] = path.relative(SRC, target).split(path.sep);
      if (!GROUPED.includes(layer) || file === undefined) return;
      const folder = path.join(SRC, layer, sub);
      if (context.filename.startsWith(folder + path.sep)) return; // a sibling
      if (deeper.length === 0 && /^index(\.[jt]s)?$/.test(file)) return;
      context.report({ node, messageId: "deep", data: { folder: `src/${layer}/${sub}`, file: spec } });
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/gen/", "bench/.build/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", Buffer: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  ...LAYERS.map(layerRules),
  {
    files: ["src/**/*.ts"],
    plugins: { mfcd: { rules: { "through-index": throughIndexRule } } },
    rules: { "mfcd/through-index": "error" },
  },
  {
    // Issue 11: a function that does not fit on a screen is a smell. One that must be longer says
    // why beside an eslint-disable-next-line comment.
    files: ["src/**/*.ts"],
    rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
