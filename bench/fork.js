// Starts a benchmark's server process (a script of bench/ that calls serve.js's serve()).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Forks `script` with `args`; resolves once it listens, with its base URL and `stop()`. */
export async function startServer(script, args = [], execArgv = []) {
  const server = fork(fileURLToPath(new URL(script, import.meta.url)), args, { execArgv });
  const exited = once(server, 'exit');
  const listening = once(server, 'message');
  const [first] = await Promise.race([
    listening,
    exited.then(([code]) => Promise.reject(new Error(`${script} ${args.join(' ')} exited with ${code} before it listened`))),
  ]);
  return {
    base: `http://127.0.0.1:${first.port}`,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      server.send('exit');
      await exited;
    },
  };
}
