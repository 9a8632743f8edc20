// Preloaded by `npm run test:unit`: unit tests do no I/O beyond reading files. A listen, a connect or
// a child process makes a test a process test, and it belongs in test/process/.
"use strict";
const net = require("node:net");
const childProcess = require("node:child_process");

function refuse(what) {
  return function refused() {
    throw new Error(`unit tests do no I/O (${what} was called): move this test to test/process/`);
  };
}

net.Server.prototype.listen = refuse("net.Server.listen");
net.Socket.prototype.connect = refuse("net.Socket.connect");
for (const name of ["spawn", "exec", "execFile", "fork", "spawnSync", "execSync", "execFileSync"]) {
  childProcess[name] = refuse(`child_process.${name}`);
}
