/**
 * jest's node environment plus `globalThis.hostProcess`: the real Node process of the test worker.
 *
 * Inside a test file `process` is a copy with its own listener table, so `process.on("unhandledRejection")`
 * or `process.once("uncaughtException")` there never hears the real events (jest-circus listens on the
 * real process and fails the test instead). Tests that must observe those events themselves opt in with
 *
 *   /** @jest-environment ./__tests__/helpers/host-process-environment.ts *\/
 *
 * and use ./host-process.ts.
 */
import type { EnvironmentContext, JestEnvironmentConfig } from "@jest/environment";
import { TestEnvironment } from "jest-environment-node";

export default class HostProcessEnvironment extends TestEnvironment {
  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    (this.global as unknown as { hostProcess: NodeJS.Process }).hostProcess = process;
  }
}
