// The floor of the event-intake benchmark: an HTTP server that does nothing but what any server must (read the body,
// parse its JSON, answer), started like the API server (pinned to core 0) and loaded by the same client. Its latency
// is what this machine, its scheduler and the load client cost before dotrank does any work; the intake's p99 is
// reported beside it. Prints {"url": ...} once listening.
import http from 'node:http';

const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const events = JSON.parse(body);
    const accepted = Array.isArray(events) ? events.length : 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted, duplicates: 0 }));
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
