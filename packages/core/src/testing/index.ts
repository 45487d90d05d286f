// Test helpers shared by packages (imported from '@dotrank/core/testing', never from production code).
export { candidateSourceContract, CONTRACT_PASSAGES } from './candidate-source-contract.js';
export { redisUrlForTests, uniquePrefix, sharedDirOrSkipReason, tinyModelDir } from './env.js';
