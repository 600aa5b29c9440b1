/**
 * Engine tier, issue 24: examples/python — a Python Pulumi program using the EdgeSite component
 * through `pulumi package add` (the component provider in provider/, a generated Python SDK) — run
 * through the real engine against a sandbox host (test/engine/consumer.ts says what is proven).
 * Without the Python language host it prints one SKIP line.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../../scripts/automation";
import { consumerScenario, languageHostMissing } from "./consumer";

const example = path.join(repoRoot, "examples", "python");
/** The venv with the pulumi package the example pins, made once per machine (PyPI), reused. */
const stateHome = process.env.JHE_STATE_HOME ?? path.join(process.env.HOME ?? "/root", ".local/state/jupyterhub-edge");
const pin = /^pulumi==(\S+)$/m.exec(fs.readFileSync(path.join(example, "requirements.txt"), "utf8"))?.[1] ?? "unpinned";
const venv = path.join(stateHome, `python-venv-${pin}`);

consumerScenario({
  language: "python",
  hostName: "py-consumer",
  missing: () => {
    const host = languageHostMissing("python");
    if (host) return host;
    if (spawnSync("python3", ["-c", "import venv, ensurepip"]).status !== 0) return "python3 with venv and ensurepip";
    return "";
  },
  prepare: async (dir, _env, run) => {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ["Pulumi.yaml", "requirements.txt", "__main__.py"]) fs.copyFileSync(path.join(example, f), path.join(dir, f));
    const ready = path.join(venv, ".jhe-ready");
    if (!fs.existsSync(ready)) {
      fs.rmSync(venv, { recursive: true, force: true });
      await run("python3", ["-m", "venv", venv], { cwd: dir });
      await run(path.join(venv, "bin", "python"), ["-m", "pip", "install", "-q", "-r", path.join(example, "requirements.txt")], { cwd: dir, timeoutMs: 10 * 60_000 });
      fs.writeFileSync(ready, `${pin}\n`);
    }
    // The example's own venv/ would be made by `pulumi install`; the test reuses the prepared one.
    const project = path.join(dir, "Pulumi.yaml");
    fs.writeFileSync(project, fs.readFileSync(project, "utf8").replace(/virtualenv: venv$/m, `virtualenv: ${venv}`));
    await run("pulumi", ["package", "add", path.join(repoRoot, "provider"), "--non-interactive"]);
  },
});
