/**
 * The child process of probe-loop.ts: reads its options as one JSON line on stdin, prints "ready"
 * after the first round, stops at a "stop" line (or stdin closing, or its own bounds) and prints
 * "report <json>".
 */
import * as readline from "readline";
import { ProbeLoopOptions, runProbeLoop } from "./probe-loop";

let stop = false;
let started = false;
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!started) {
    started = true;
    const opts = JSON.parse(line) as ProbeLoopOptions;
    void runProbeLoop(opts, () => stop, () => process.stdout.write("ready\n")).then((report) => {
      process.stdout.write(`report ${JSON.stringify(report)}\n`, () => process.exit(0));
    });
  } else if (line.trim() === "stop") {
    stop = true;
  }
});
lines.on("close", () => { stop = true; });
