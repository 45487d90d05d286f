// How often this machine takes a core away from a busy thread, and for how long: reads the clock in a tight loop for
// BENCH_STALL_SECONDS (default 3) and prints the gaps between reads longer than 0.2 ms as one JSON line. On a machine
// of its own the gaps stay well under a millisecond; on a shared virtual machine the host's scheduler shows here, and
// no server on this core can answer faster than it lets it run. The event-intake benchmark runs it pinned to the
// server's core, with nothing else running.
const seconds = Number(process.env['BENCH_STALL_SECONDS'] ?? 3);
const end = performance.now() + seconds * 1000;
const gaps = [];
let last = performance.now();
while (last < end) {
  const now = performance.now();
  if (now - last > 0.2) gaps.push(now - last);
  last = now;
}
gaps.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    seconds,
    over1ms: gaps.filter((g) => g > 1).length,
    over3ms: gaps.filter((g) => g > 3).length,
    longestMs: gaps.at(-1) ?? 0,
    lostMs: gaps.reduce((a, b) => a + b, 0),
  }) + '\n',
);
