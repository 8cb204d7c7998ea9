// The Express 4 that the tests run against, installed as `express4`; it has the same API
// as far as the tests use it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
