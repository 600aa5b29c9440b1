/**
 * Engine tier, issue 24: examples/typescript — a TypeScript Pulumi program of someone else's using
 * EdgeSite from the npm package (the repository's `npm pack`, installed like any dependency) — run
 * with plain `pulumi up` through the nodejs language host against a sandbox host
 * (test/engine/consumer.ts says what is proven). Without the language host it prints one SKIP line.
 */
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../../../scripts/automation";
import { consumerScenario, languageHostMissing } from "../consumer";

const example = path.join(repoRoot, "examples", "typescript");

consumerScenario({
  language: "typescript",
  hostName: "ts-consumer",
  missing: () => languageHostMissing("nodejs"),
  prepare: async (dir, _env, run) => {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ["Pulumi.yaml", "package.json", "tsconfig.json", "index.ts"]) fs.copyFileSync(path.join(example, f), path.join(dir, f));
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", path.dirname(dir)], { cwd: repoRoot });
    const tarball = path.join(path.dirname(dir), packed.out.trim().split("\n").pop()!);
    const pkg = path.join(dir, "package.json");
    fs.writeFileSync(pkg, fs.readFileSync(pkg, "utf8").replace(/"file:[^"]*jupyterhub-edge-[^"]*\.tgz"/, JSON.stringify(`file:${tarball}`)));
    await run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], { timeoutMs: 10 * 60_000 });
  },
});
