/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/__tests__/**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  // lib/ uses NodeNext-style ".js" suffixes in relative imports.
  moduleNameMapper: {
    "^(\\.{1,2}/.*)\\.js$": "$1",
    // connect-redis's own test file imports { expect, test } from "vitest".
    "^vitest$": "<rootDir>/__tests__/helpers/vitest-shim.ts",
  },
  testTimeout: 30000,
  // Each test file starts its own redis-server (or cluster); two cores here.
  maxWorkers: 2,
};
