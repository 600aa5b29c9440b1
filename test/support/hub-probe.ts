/**
 * The user probe for the tests: the shipped probe (scripts/probe/, which the main job
 * scripts/deploy-dev.ts runs after `up`) under the path the tests have always imported.
 * scripts/probe/README.md describes it.
 */
export * from "../../scripts/probe/hub-probe";
