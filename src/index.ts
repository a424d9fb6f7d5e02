/**
 * `import { startProxy } from 'version-proxy'`: the package's entry for test code. The proxy
 * in-process (start-proxy.ts) and, for convenience, what 'version-proxy/client' exports.
 */
export { startProxy, type RunningProxy, type StartProxyOptions } from './start-proxy.js';
export { ProgramError } from './errors.js';
export * from './client/index.js';
