// node sse_clients.js URL N: hold N Server-Sent Events streams open on URL,
// reading and discarding (as N idle browser tabs would), in one process so
// that the clients do not take the machine from what is measured.  Prints
// the bytes received per stream when stopped (SIGTERM).
'use strict';
const http = require('http');
const [url, n] = [process.argv[2], Number(process.argv[3])];
const received = new Array(n).fill(0);
for (let i = 0; i < n; i++) {
  http.get(url, { agent: false }, (res) => {
    res.on('data', (chunk) => { received[i] += chunk.length; });
  }).on('error', () => {});
}
process.on('SIGTERM', () => {
  const total = received.reduce((a, b) => a + b, 0);
  console.log(`${n} streams, ${(total / 1048576).toFixed(1)} MB received, min ${Math.min(...received)} bytes`);
  process.exit(0);
});
