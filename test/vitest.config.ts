import { mergeConfig } from 'vitest/config';
import shared from '../vitest.shared.js';

// End-to-end suites live in e2e/ (API + worker + Redis + Chromium).
export default mergeConfig(shared, { test: { include: ['e2e/**/*.test.ts'] } });
