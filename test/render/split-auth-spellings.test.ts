/**
 * Render tier, split auth against the generated path spellings (test/support/path-spellings.ts): the
 * rules nginx and Apache are given, evaluated in-process on every spelling the host tier sends. A
 * backslash in any spelling takes the password check; the paths real users send do not. The host
 * tier proves the same through the real proxies and the real hub.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../config/schema";
import { rawAmbiguousPathRegex, rawHubApiRegex, rawPathTailInRequestLine } from "../../render/split-auth";
import { renderNginx } from "../../render/nginx";
import { renderApache } from "../../render/apache";
import { hasBackslash, pathSpellings } from "../support/path-spellings";
import { variants } from "./variants";

const sites = ["debian13-splitauth", "debian13-splitauth-subpath"].map((name) => parseConfig(variants[name]).site);

test("split auth: every generated spelling with a backslash (or a tab or newline) is ambiguous, and none is a plain API path", () => {
  const ambiguous = new RegExp(rawAmbiguousPathRegex);
  for (const site of sites) {
    const api = new RegExp(rawHubApiRegex(site));
    const spellings = pathSpellings({ base: site.hub.path, user: "learner" });
    assert.ok(spellings.length > 500, `several hundred spellings (${spellings.length})`);
    let flagged = 0;
    for (const { path } of spellings) {
      const odd = hasBackslash(path) || /[\t\n]/.test(path);
      assert.equal(ambiguous.test(path), odd, `${JSON.stringify(path)}: ambiguous ⇔ it holds a backslash, tab or newline`);
      assert.ok(!(odd && api.test(path)), `${JSON.stringify(path)} must not pass as a plain API path`);
      if (odd) flagged++;
    }
    assert.ok(flagged > 300, `${site.hub.path}: ${flagged} spellings take the password check`);
  }
});

test("split auth: what real users send stays open (dot files, percent-encoded names, queries holding anything)", () => {
  const ambiguous = new RegExp(rawAmbiguousPathRegex);
  for (const site of sites) {
    const b = site.hub.path;
    const api = new RegExp(rawHubApiRegex(site));
    for (const open of [
      "user/learner/lab", "user/learner/api/contents/.ipynb_checkpoints", "user/learner/api/contents/split%20auth%20probe.txt",
      "user/learner/api/kernels/0f1e/channels?session_id=ab12", "user/learner/lab/api/settings/@jupyterlab/apputils-extension:themes",
      "user/learner/files/a%2Fb.txt", "user/learner/lab?path=C%3A%5Cdata%5Cx.ipynb", "hub/api/users/xC5-nobody.v2_~", "hub/api/oauth2/authorize?redirect_uri=%5C",
    ]) assert.equal(ambiguous.test(`${b}${open}`), false, `${b}${open} stays open`);
    for (const plain of ["hub/api/", "hub/api/users/xC5-nobody.v2_~", "hub/api/users/learner/tokens?x=a%5Cb"]) assert.match(`${b}${plain}`, api, `${b}${plain} is a plain API path`);
    for (const odd of ["hub/api/users\\..\\..\\login", "hub/api/users/x%5C..%5C..%5Clogin", "hub/api/users/x%255C..%255Clogin"]) assert.doesNotMatch(`${b}${odd}`, api, `${b}${odd}`);
  }
});

test("split auth: the regexes reach each proxy's regex engine as computed (each config syntax's own escaping)", () => {
  for (const site of sites) {
    // nginx unescapes `\\` inside a quoted argument: the map holds the regex with each `\` doubled.
    const nginx = renderNginx(site).https.content;
    assert.ok(nginx.includes(`"~${rawAmbiguousPathRegex.replace(/\\/g, "\\\\")}" 1;`), "nginx: the ambiguous-path map");
    assert.ok(nginx.includes(`"~${rawHubApiRegex(site).replace(/\\/g, "\\\\")}" 1;`), "nginx: the raw API map");
    assert.match(nginx, new RegExp(`location ${site.hub.path.replace(/\./g, "[.]")} \\{\\n(\\s+#.*\\n)?\\s+error_page 418 = @jhe_hub_pages;\\n\\s+if \\(\\$jhe_path_ambiguous = 1\\) \\{\\n\\s+return 418;`),
      "nginx: the open location sends an ambiguous path to the password check");
    // Apache's Require hands its argument over raw: the regex appears exactly as computed.
    const apache = renderApache({ ...site, proxy: "apache" }).https.content;
    assert.ok(apache.includes(`hub/api/${rawPathTailInRequestLine}[? ]#"`), "Apache: the THE_REQUEST regex, single backslashes");
  }
});
