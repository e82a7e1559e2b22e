// Lets connect-redis's own vitest file run under jest unchanged: it imports { expect, test } from "vitest".
export { expect, test } from "@jest/globals";
