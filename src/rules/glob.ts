/**
 * The rules' globs are the core's (src/core/glob.ts): one linear-time matcher for rule matchers
 * and for filter expressions (src/core/filter.ts), which core cannot import from here.
 */
export { compileGlob, type Glob } from '../core/glob.js';
