import shared from '../../vitest.shared.js';

// Unit tests cover the pure data functions and run in the node environment (no DOM needed).
export default shared;
