/**
 * Removing a server from a fleet must be confirmed by name (config/removals.ts): the stack's last
 * outputs say which servers are deployed; the config says which are planned.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deployedServers, removalProblems } from "../../config/removals";
import { loadStackFromStrings } from "../../config/fleet";
import { ConfigError } from "../../config/schema";

test("deployed servers from a stack's outputs: a fleet's hosts, a single host's 'edge', none before the first up", () => {
  assert.deepEqual(deployedServers({ hosts: { room1: {}, room2: {} } }), ["room1", "room2"]);
  assert.deepEqual(deployedServers({ url: "https://hub.example.org/", caCertificate: "" }), ["edge"]);
  assert.deepEqual(deployedServers({}), []);
});

test("a deployed server missing from hosts is refused unless confirmed; a rename reads as a removal", () => {
  assert.deepEqual(removalProblems(["room1", "room2"], ["room1", "room2", "room3"], []), [], "adding is fine");
  const renamed = removalProblems(["room1", "room2"], ["room1", "rom2"], []);
  assert.equal(renamed.length, 1);
  assert.match(renamed[0], /^jupyterhub-edge:hosts: server room2 was deployed by this stack and is not among hosts any more; this up would tear its site down and delete its CA and split-auth passwords for good\. If you renamed it, give it its name back; to remove it, confirm with `pulumi config set --path 'jupyterhub-edge:removeServers\[0\]' room2`$/);
  assert.deepEqual(removalProblems(["room1", "room2"], ["room1"], ["room2"]), [], "confirmed");
  assert.match(removalProblems(["edge"], ["room1"], [])[0], /single-host site .* turning the stack into a fleet rebuilds it as a new server/);
  assert.deepEqual(removalProblems(["room1"], ["room1"], ["room1"]), ["jupyterhub-edge:removeServers: room1 is also in the config, so it is kept: take it out of removeServers"]);
});

test("removeServers: names only, fleets only, never per host", () => {
  const base = { sshPrivateKeyFile: "/dev/null", hosts: JSON.stringify([{ name: "room1", host: "203.0.113.10", hubDomain: "hub.example.org" }]) };
  assert.deepEqual(loadStackFromStrings({ ...base, removeServers: JSON.stringify(["room2"]) }, undefined, "/").removeServers, ["room2"]);
  const refused = (strings: Record<string, string>) => {
    try {
      loadStackFromStrings(strings, undefined, "/");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems.join("\n");
    }
    return assert.fail("accepted");
  };
  assert.match(refused({ ...base, removeServers: JSON.stringify(["Room 2"]) }), /^jupyterhub-edge:removeServers: must be a list of server names/);
  assert.match(refused({ ...base, removeServers: "room2" }), /^jupyterhub-edge:removeServers: must be a list of server names/);
  assert.match(refused({ sshPrivateKeyFile: "/dev/null", host: "203.0.113.10", hubDomain: "hub.example.org", removeServers: JSON.stringify(["room2"]) }), /^jupyterhub-edge:removeServers: only applies with hosts/);
  assert.match(refused({ ...base, hosts: JSON.stringify([{ name: "room1", host: "203.0.113.10", hubDomain: "hub.example.org", removeServers: ["x"] }]) }), /hosts\[0\]\.removeServers: cannot be set per host; it is a stack-wide list/);
});
