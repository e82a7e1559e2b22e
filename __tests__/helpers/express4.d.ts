// express 4 (the "express4" alias in devDependencies) has no types of its own here: the tests use
// what express 4 and 5 share (an app, use, get, post, listen, the body parsers), typed as express 5.
declare module "express4" {
  import express from "express";
  export default express;
}
