// Prepare a folder of consumers for componentize-js, and write the
// plugin's manifest with the routes its routing.js declares.
//
//   node build.mjs --src DIR --name NAME --work WORK --manifest OUT.toml --cjs PATH
//
// - copies the folder's modules to WORK/app and this SDK to WORK/wasmsock;
// - points every `import ... from "wasmsock"` of the copies at
//   WORK/wasmsock/index.js (componentize-js resolves relative imports
//   inside the folder it builds in, not packages), and refuses other bare
//   imports, which would not resolve in the plugin;
// - imports the plugin's module here, with node, as the plugin will (so
//   both agree): routing.js (its `routes`) or else consumers.js (one
//   consumer class, served on /NAME), stopping with the reason when a
//   route cannot be served;
// - writes WORK/entry.js, the module componentize-js builds, which
//   exports `handler` and `eventHandler`;
// - writes OUT.toml: `routes = [...]` followed by the folder's own
//   settings, plugin.toml (any manifest key but `routes`).
//
// Exit status 1 with a message on stderr when the folder cannot be built.
// PATH is componentize-js's command: its own es-module-lexer reads imports.

import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SDK = dirname(fileURLToPath(import.meta.url));
// The SDK's files a plugin holds.
const SDK_FILES = ["index.js", "plugin.js"];
// Written at the top of every manifest this script writes, so that a later
// build knows the file is its own to replace or remove.
const MARK = "# Written by build.sh";
// What in a plugin folder is not its code.
const SKIP = new Set(["sdk", "wit", "node_modules", "build.sh", "README.md", "jsconfig.json", "package.json", "package-lock.json"]);
const SETTINGS = "plugin.toml";

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, "");
    if (!["src", "name", "work", "manifest", "cjs"].includes(key) || argv[i + 1] === undefined) {
      fail(`usage: node build.mjs --src DIR --name NAME --work WORK --manifest OUT.toml --cjs COMPONENTIZE_JS`);
    }
    out[key] = argv[i + 1];
  }
  for (const k of ["src", "name", "work", "manifest", "cjs"]) if (!out[k]) fail(`--${k} is missing`);
  return out;
}

async function lexer(cjs) {
  // componentize-js depends on es-module-lexer: found from its real path.
  let real;
  try {
    real = realpathSync(cjs);
  } catch (e) {
    fail(`cannot find componentize-js at ${cjs}: ${e.message}`);
  }
  try {
    const require = createRequire(real);
    const mod = await import(pathToFileURL(require.resolve("es-module-lexer")).href);
    await mod.init;
    return mod;
  } catch (e) {
    fail(`cannot load es-module-lexer beside componentize-js (${real}): ${e.message}; reinstall componentize-js 0.23.0`);
  }
}

function copyCode(src, dest) {
  mkdirSync(dest, { recursive: true });
  for (const entry of readdirSync(src)) {
    if (entry.startsWith(".") || SKIP.has(entry) || entry.endsWith(".wasm") || entry.endsWith(".toml")) continue;
    cpSync(join(src, entry), join(dest, entry), {
      recursive: true,
      filter: (from) => !basename(from).startsWith(".") && basename(from) !== "node_modules",
    });
  }
}

function modules(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...modules(path));
    else if (entry.endsWith(".js") || entry.endsWith(".mjs")) out.push(path);
  }
  return out;
}

// Point `"wasmsock"` imports at the SDK's copy; refuse imports that would
// not resolve inside the plugin.
function rewriteImports(lex, app, sdkIndex) {
  for (const file of modules(app)) {
    const shown = relative(app, file).split(sep).join("/");
    const source = readFileSync(file, "utf8");
    let imports;
    try {
      [imports] = lex.parse(source, shown);
    } catch (e) {
      fail(`${shown}: not a JavaScript module (${e.message ?? e})`);
    }
    let out = "";
    let at = 0;
    for (const imp of imports) {
      if (imp.d === -2 || imp.n === undefined) continue; // import.meta, or a computed dynamic import
      const spec = imp.n;
      const line = source.slice(0, imp.s).split("\n").length;
      if (spec === "wasmsock") {
        if (imp.d !== -1) fail(`${shown}:${line}: import "wasmsock" with a static import (import { ... } from "wasmsock")`);
        let rel = relative(dirname(file), sdkIndex).split(sep).join("/");
        if (!rel.startsWith(".")) rel = `./${rel}`;
        out += source.slice(at, imp.s) + rel;
        at = imp.e;
        continue;
      }
      if (spec.startsWith("./") || spec.startsWith("..") || spec.startsWith("wasmsock:plugin/")) {
        if (spec.startsWith("..")) {
          const target = join(dirname(file), spec);
          if (relative(app, target).startsWith("..")) {
            fail(`${shown}:${line}: ${JSON.stringify(spec)} is outside the plugin's folder, which is all the plugin holds`);
          }
        }
        continue;
      }
      fail(
        `${shown}:${line}: ${JSON.stringify(spec)} cannot be imported in a plugin: only modules of the ` +
          `plugin's folder (relative paths such as "./chat.js"), "wasmsock" and the WIT's ` +
          `"wasmsock:plugin/..." resolve there (copy a pure-JavaScript package into the folder)`,
      );
    }
    if (at > 0) writeFileSync(file, out + source.slice(at));
  }
}

function findModule(src) {
  if (existsSync(join(src, "routing.js"))) return ["routing", "routing.js"];
  if (existsSync(join(src, "consumers.js"))) return ["consumers", "consumers.js"];
  fail(
    `${src}: no routing.js and no consumers.js: a plugin needs its consumers.js, and a routing.js ` +
      `(export const routes = [route("/path/{param}", Consumer)]) to route them`,
  );
}

function declaresRoutes(text) {
  for (const line of text.split("\n")) {
    const stripped = line.trim();
    if (stripped.startsWith("[")) return false;
    if (/^routes\s*=/.test(stripped)) return true;
  }
  return false;
}

async function main() {
  const a = args();
  const src = realpathSync(a.src);
  const work = a.work;
  const app = join(work, "app");
  const sdkDir = join(work, "wasmsock");
  const [kind, shown] = findModule(src);
  copyCode(src, app);
  mkdirSync(sdkDir, { recursive: true });
  for (const f of SDK_FILES) cpSync(join(SDK, f), join(sdkDir, f));
  rewriteImports(await lexer(a.cjs), app, join(sdkDir, "index.js"));

  // Import the plugin's module as the plugin will, and read its routes.
  const sdk = await import(pathToFileURL(join(sdkDir, "index.js")).href);
  let module;
  try {
    module = await import(pathToFileURL(join(app, shown)).href);
  } catch (e) {
    if (e?.code === "ERR_UNSUPPORTED_ESM_URL_SCHEME" || /wasmsock:plugin/.test(String(e?.message))) {
      fail(
        `importing ${shown} with node failed: ${e.message}\n` +
          `       a module the build reads routes from cannot import the WIT's "wasmsock:plugin/..." ` +
          `modules itself: use the SDK's log and config (import { log, config } from "wasmsock")`,
      );
    }
    process.stderr.write(`${e?.stack ?? e}\n`);
    fail(`importing ${shown} failed (error above)`);
  }
  let routes;
  try {
    routes = sdk.routesOf(kind, module, shown);
  } catch (e) {
    fail(e.message);
  }

  writeFileSync(
    join(work, "entry.js"),
    "// Written by build.mjs: the module componentize-js builds.\n" +
      `import * as plugin from "./app/${shown}";\n` +
      'import { start } from "./wasmsock/plugin.js";\n' +
      `const exported = start(${JSON.stringify(kind)}, plugin, ${JSON.stringify(shown)});\n` +
      "export const handler = exported.handler;\n" +
      "export const eventHandler = exported.eventHandler;\n",
  );

  const settings = join(src, SETTINGS);
  const text = existsSync(settings) ? readFileSync(settings, "utf8") : null;
  const out = a.manifest;
  let body = null;
  const paths = routes.map((r) => r.path).filter((p) => p !== null);
  if (paths.length > 0) {
    if (text !== null && declaresRoutes(text)) {
      fail(`${settings} sets routes, and ${shown} routes too; the routes come from ${shown}: remove them from ${SETTINGS}`);
    }
    body = `${MARK} from ${shown}${text !== null ? ` and ${SETTINGS}` : ""}.\n`;
    body += `routes = [${paths.map((p) => JSON.stringify(p)).join(", ")}]\n`;
    if (text) body += `\n${text}`;
    process.stderr.write(`build: routes ${paths.join(" ")} (from ${shown})\n`);
  } else if (text !== null) {
    body = `${MARK} from ${SETTINGS}.\n${text}`;
    process.stderr.write(`build: served on the routes of ${SETTINGS}\n`);
  } else {
    process.stderr.write(`build: served on /${a.name} (the default route: ${shown} routes no paths)\n`);
  }
  if (body === null) {
    if (existsSync(out) && readFileSync(out, "utf8").startsWith(MARK)) rmSync(out);
    return;
  }
  writeFileSync(`${out}.tmp`, body);
  renameSync(`${out}.tmp`, out);
}

await main();
