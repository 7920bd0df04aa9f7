// Strict schema check of Istio and Gateway API objects, for tests/deploy (run by pytest).
//
//   node tests/deploy/schema_check.mjs FILE.yaml...   ->  JSON report on stdout
//
// Two checks per object, both from registry packages pinned in package-lock.json:
//  1. the runtime validator that @kubernetes-models/{istio,gateway-api} generate from the
//     upstream CRD openAPIV3Schema (types, enums, required fields, oneOf, formats);
//  2. TypeScript's excess-property check against the same packages' generated interfaces,
//     which turns every unknown field (a typo, a field from another kind) into an error:
//     the CRD schema alone would let Kubernetes prune such a field silently.
// Kubernetes built-in kinds (apiVersion without a dot: v1, apps/v1, ...) are reported as
// "skipped": kubernetes-validate checks those on the Python side.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const PACKAGES = {
  "networking.istio.io": "@kubernetes-models/istio",
  "security.istio.io": "@kubernetes-models/istio",
  "telemetry.istio.io": "@kubernetes-models/istio",
  "extensions.istio.io": "@kubernetes-models/istio",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
};

function moduleFor(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  if (slash < 0) return { builtin: true };
  const group = apiVersion.slice(0, slash);
  if (!group.includes(".")) return { builtin: true };
  const pkg = PACKAGES[group];
  if (!pkg || !/^[A-Za-z0-9]+$/.test(kind) || !/^[a-z0-9.-]+\/v[0-9a-z]+$/.test(apiVersion)) {
    return { error: `no schema known for ${apiVersion} ${kind}` };
  }
  const spec = `${pkg}/${apiVersion}/${kind}`;
  const pkgDir = path.dirname(require.resolve(`${pkg}/package.json`));
  if (!fs.existsSync(path.join(pkgDir, apiVersion, `${kind}.d.ts`))) {
    return { error: `no schema for ${apiVersion} ${kind} in ${pkg}` };
  }
  return { spec };
}

const results = [];
const typed = []; // { result, spec, doc }

for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true });
  docs.forEach((d, index) => {
    const result = { file, index, apiVersion: null, kind: null, name: null, status: "ok", errors: [] };
    results.push(result);
    if (d.errors.length) {
      result.status = "error";
      result.errors.push(...d.errors.map((e) => `YAML: ${e.message}`));
      return;
    }
    const doc = d.toJS();
    if (doc === null || doc === undefined) {
      result.status = "empty";
      return;
    }
    if (typeof doc !== "object" || Array.isArray(doc)) {
      result.status = "error";
      result.errors.push("document is not a mapping");
      return;
    }
    result.apiVersion = doc.apiVersion ?? null;
    result.kind = doc.kind ?? null;
    result.name = doc.metadata?.name ?? null;
    if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
      result.status = "error";
      result.errors.push("apiVersion and kind must be strings");
      return;
    }
    const m = moduleFor(doc.apiVersion, doc.kind);
    if (m.builtin) {
      result.status = "skipped";
      return;
    }
    if (m.error) {
      result.status = "error";
      result.errors.push(m.error);
      return;
    }
    typed.push({ result, spec: m.spec, doc });
  });
}

// 1. runtime validation (upstream CRD schema)
for (const t of typed) {
  const mod = await import(t.spec);
  const Model = mod[t.doc.kind];
  try {
    new Model(t.doc).validate();
  } catch (e) {
    t.result.errors.push(`schema: ${e.message}`);
  }
}

// 2. TypeScript excess-property (unknown field) check, one virtual file for all documents
if (typed.length) {
  const lines = [];
  const lineToDoc = new Map();
  typed.forEach((t, i) => lines.push(`import type { I${t.doc.kind} as T${i} } from "${t.spec}";`));
  typed.forEach((t, i) => {
    lineToDoc.set(lines.length, t);
    lines.push(`export const d${i}: T${i} = ${JSON.stringify(t.doc)};`);
  });
  const source = lines.join("\n") + "\n";
  const vfile = path.join(here, "__schema_check__.ts");
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (f, lv, ...rest) =>
    f === vfile ? ts.createSourceFile(f, source, lv) : getSourceFile(f, lv, ...rest);
  host.fileExists = (f) => f === vfile || fileExists(f);
  host.readFile = (f) => (f === vfile ? source : readFile(f));
  const program = ts.createProgram([vfile], options, host);
  for (const diag of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diag.messageText, " ").replace(/\s+/g, " ");
    const short = message.length > 400 ? message.slice(0, 400) + "..." : message;
    let target = null;
    if (diag.file && diag.file.fileName === vfile && diag.start !== undefined) {
      target = lineToDoc.get(diag.file.getLineAndCharacterOfPosition(diag.start).line);
    }
    if (target) {
      target.result.errors.push(`field: ${short}`);
    } else {
      // An import that does not resolve or a problem in the packages: fail every document.
      for (const t of typed) t.result.errors.push(`typescript: ${short}`);
    }
  }
}

for (const r of results) if (r.errors.length) r.status = "error";
process.stdout.write(JSON.stringify(results, null, 1) + "\n");
