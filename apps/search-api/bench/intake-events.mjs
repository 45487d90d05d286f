// The events of the intake benchmark, built the same way by the load client and by the server's bare XADD baseline.

/**
 * The i-th event of a run: a click on the first shown result of impression i (cycling over the targets), with an
 * event id unique to the run (so every event is new and really appended).
 * @param {[string, string][]} targets (impressionId, docId) pairs
 * @param {number} i
 * @param {string} run
 */
export function intakeEvent(targets, i, run) {
  const [impressionId, docId] = targets[i % targets.length];
  return { impressionId, type: 'click', docId, eventId: `${run}-${i}` };
}
