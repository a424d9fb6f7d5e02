/**
 * `import { connectControl } from 'version-proxy/client'`: the typed client of a running proxy's
 * control API (docs/control-api.md "Test suites"). Loads nothing but node:http and node:fs.
 */
export { connectControl, type ConnectOptions, type ControlClient, type ControlMethods } from './control.js';
export { ControlError } from './error.js';
export { CLIENT_ROUTES } from './routes.js';
export { DEFAULT_SCOPE_TTL_MS, type ScopeContext, type WithRulesOptions } from './scope.js';
export type * from './types.js';
