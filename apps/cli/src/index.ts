// The CLI has no library API; see src/main.ts.
export { buildProgram, runCli } from './run.js';
