// The house rules are checked by lint, not by review: this runs the workspace's own ESLint configuration over probe
// files placed (virtually) inside projects and checks that each forbidden import fails and an allowed one passes.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function ruleIds(projectFile: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, projectFile) });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

async function messages(projectFile: string, code: string): Promise<string> {
  const [result] = await eslint.lintText(code, { filePath: join(root, projectFile) });
  return result!.messages.map((m) => m.message).join('\n');
}

describe('house rules in lint', () => {
  // The Nx rule reads the project graph Nx caches; outside `nx run` it would skip itself with a warning when there is
  // none, so compute it first (as `npm test` does before linting).
  beforeAll(() => {
    execFileSync('npx', ['nx', 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  });

  it('refuses an import from a package into an app', async () => {
    const text = await messages(
      'packages/eval/src/probe.ts',
      "import { runWorkerProcess } from '@dotrank/reranker-worker';\nexport const probe = runWorkerProcess;\n",
    );
    expect(text).toMatch(/tagged with "type:package" can only depend on libs tagged with "type:package"/);
  });

  it('refuses an import from one service app into another', async () => {
    const ids = await ruleIds(
      'apps/reranker-worker/src/probe.ts',
      "import { startServer } from '@dotrank/search-api';\nexport const probe = startServer;\n",
    );
    expect(ids).toContain('@nx/enforce-module-boundaries');
  });

  it('refuses workspace code in the dashboard at run time, but allows its types', async () => {
    const value = await ruleIds(
      'apps/dashboard/src/probe.ts',
      "import { evaluate } from '@dotrank/eval';\nexport const probe = evaluate;\n",
    );
    expect(value).toContain('no-restricted-imports');
    const types = await ruleIds(
      'apps/dashboard/src/probe.ts',
      "import type { MetricsReport } from '@dotrank/eval';\nexport type Probe = MetricsReport;\n",
    );
    expect(types).not.toContain('no-restricted-imports');
  });

  it('allows a package to import another package', async () => {
    const ids = await ruleIds(
      'packages/eval/src/probe.ts',
      "import { ValidationError } from '@dotrank/core';\nexport const probe = ValidationError;\n",
    );
    expect(ids).toEqual([]);
  });
});
