/**
 * `./proxy rules check | list`, as cli.ts declares them. Part of the CLI layer: it prints and
 * exits; loading, checking and the shipped scenarios are in src/rules/.
 */

/** Every issue as file:line:col on stderr, each valid rule with its explain(); exit 1 on any issue. */
export async function checkRules(paths: string[], anywhere: boolean): Promise<void> {
  const { loadRuleFiles, formatIssue } = await import('../rules/load.js');
  const { compileRules } = await import('../rules/compile.js');
  const result = await loadRuleFiles(paths, { respondFiles: { anywhere } });
  for (const issue of result.issues) console.error(formatIssue(issue));
  // Each valid rule as the engine will run it: its explain(), the words the record uses.
  for (const rule of compileRules(result.rules, { seed: 0 }).all) {
    console.log(`${rule.file}:${rule.line}: ${rule.id}${rule.description ? ` — ${rule.description}` : ''}\n    ${rule.explain()}`);
  }
  const summary = `${result.rules.length} rules in ${result.files.length} files, ${result.issues.length} issues`;
  if (result.issues.length > 0) {
    console.error(summary);
    process.exit(1);
  }
  console.log(summary);
}

/** The shipped scenarios in rules/, with the spec section each exercises. */
export async function listRules(): Promise<void> {
  const { listScenarios, formatScenarioList } = await import('../rules/scenarios.js');
  console.log(formatScenarioList(await listScenarios()));
  console.log('\nRun one: ./proxy start --rules rules/<name>.yaml   (or --rules rules/ for all of them)');
}
