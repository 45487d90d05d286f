import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// These tests spawn worker processes, kill them and time job locks: run the files one after another so they do not
// starve each other of the machine's cores.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }));
