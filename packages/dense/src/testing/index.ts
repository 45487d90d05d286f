// Test helpers of @dotrank/dense (imported from '@dotrank/dense/testing', never from production code).
export { denseSourceContract } from './dense-contract.js';
