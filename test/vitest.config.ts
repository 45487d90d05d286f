import { mergeConfig } from 'vitest/config';
import shared from '../vitest.shared.js';

// End-to-end suites live in e2e/ (API + worker + Redis + Chromium); the fault-injection suite in faults/ (its own
// redis-server, the real API and worker processes, faults injected while they run).
export default mergeConfig(shared, { test: { include: ['e2e/**/*.test.ts', 'faults/**/*.test.ts'] } });
