/**
 * Each client method's route, in one table: the methods build their requests from it, and
 * test/control-client.test.ts checks every entry against the live `GET /api/openapi.json`, so
 * the client cannot call a route the server does not have (docs/control-api.md).
 */
export const CLIENT_ROUTES = {
  openApi: ['GET', '/api/openapi.json'],
  status: ['GET', '/api/status'],
  listRules: ['GET', '/api/rules'],
  addRule: ['POST', '/api/rules'],
  replaceRule: ['PUT', '/api/rules/{id}'],
  enableRule: ['PATCH', '/api/rules/{id}'],
  disableRule: ['PATCH', '/api/rules/{id}'],
  deleteRule: ['DELETE', '/api/rules/{id}'],
  ruleHits: ['GET', '/api/rules/{id}/hits'],
  listScopes: ['GET', '/api/scopes'],
  createScope: ['POST', '/api/scopes'],
  getScope: ['GET', '/api/scopes/{id}'],
  renewScope: ['PUT', '/api/scopes/{id}'],
  deleteScope: ['DELETE', '/api/scopes/{id}'],
  holdScope: ['GET', '/api/scopes/{id}/hold'],
  listExchanges: ['GET', '/api/exchanges'],
  getExchange: ['GET', '/api/exchanges/{id}'],
  listConversations: ['GET', '/api/conversations'],
  reset: ['POST', '/api/reset'],
} as const satisfies Record<string, readonly [string, string]>;

export type RouteName = keyof typeof CLIENT_ROUTES;

/** The route's path with `{id}` filled in (one path segment, percent-encoded). */
export function routePath(name: RouteName, id?: string): string {
  const template = CLIENT_ROUTES[name][1];
  return id === undefined ? template : template.replace('{id}', encodeURIComponent(id));
}
