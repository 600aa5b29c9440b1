/**
 * The import graph of the shipped code (dependency-cruiser; checked by test/render/import-graph.test.ts).
 * The layers, in the direction data flows: config validates into the model; the model is plain data
 * and imports nothing of ours; renderers read the model; the plan (steps/) uses the renderers; the
 * components turn the plan into resources; lib/ and the program sit on top. An import may only point
 * down this list, never up, and never around in a circle.
 */
const layer = (name, mayNotImport, comment) => ({
  name: `${name}-imports-upward`,
  comment,
  severity: "error",
  from: { path: `^${name}/` },
  to: { path: `^(${mayNotImport.join("|")})/` },
});

module.exports = {
  forbidden: [
    { name: "no-cycle", comment: "shipped modules import each other in a circle", severity: "error", from: {}, to: { circular: true } },
    layer("model", ["config", "render", "steps", "components", "lib", "provider", "scripts"], "the model is the bottom: plain data and its derivations"),
    layer("config", ["render", "steps", "components", "lib", "provider", "scripts"], "config only builds the model"),
    layer("render", ["config", "steps", "components", "lib", "provider", "scripts"], "renderers read the model only"),
    layer("steps", ["config", "components", "lib", "provider", "scripts"], "the plan reads the model and the renderers"),
    layer("components", ["config", "lib", "provider", "scripts"], "components wire the plan, given a model"),
    { name: "shipped-imports-tests", comment: "shipped code must not import the test tree", severity: "error", from: { path: "^(config|model|render|steps|components|lib|provider|scripts)/|^(index|program)\\.ts$" }, to: { path: "^test/" } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|^(dist|bin)/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
  },
};
