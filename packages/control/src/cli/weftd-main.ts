/**
 * weftd's entry point (bin/weftd): flags → logger → Weftd.run(), signals, exit codes.
 *
 *   exit 0  stopped by SIGTERM/SIGINT (or --help/--version)
 *   exit 2  invalid configuration (flag, environment variable, net-conf.json, MTU): one line naming it
 *   exit 1  any other startup failure (device, port in use, ...), logged as fatal
 *
 * Logs are pino JSON lines on stdout; on a terminal they go through pino-pretty instead.
 */
import { pino, type Logger } from 'pino';
import { prestartSettled } from '@weft/datapath/worker-prestart';
import { NetConfError } from '../config/net-conf.js';
import { packageVersion as version } from './package-version.js';
import { ConfigError, parseWeftdArgs, weftdHelp } from './weftd-flags.js';

function makeLogger(level: string): Logger {
  const base = { name: 'weftd' };
  if (process.stdout.isTTY) {
    return pino({ ...base, level }, pino.transport({ target: 'pino-pretty', options: { colorize: true } }));
  }
  return pino({ ...base, level });
}

async function main(): Promise<number> {
  performance.mark('weftd-main'); // start-up phases, logged with the first forwarded state (restart gap)
  let parsed;
  try {
    parsed = parseWeftdArgs(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`weftd: ${(e as Error).message}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(weftdHelp());
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`weftd ${version()}\n`);
    return 0;
  }
  const log = makeLogger(parsed.config.logLevel);
  // weft's datapath lives in this process: a crash would stop every pod packet between nodes. An error
  // thrown from a library callback (etcd3's watch stream has such paths) is logged loudly and the agent
  // keeps running; the worker thread keeps forwarding, and /healthz still tells a truly stuck process.
  process.on('uncaughtException', (err) => log.error({ err }, `uncaught exception, kept running: ${err.message}`));
  process.on('unhandledRejection', (err) =>
    log.error({ err }, `unhandled rejection, kept running: ${String((err as Error)?.message ?? err)}`),
  );
  if (parsed.config.cleanup) {
    const { cleanupNode } = await import('../state/cleanup.js');
    return cleanupNode(parsed.config, log);
  }
  // Loaded only now: the datapath, etcd and Kubernetes clients take a while to import, --help should not wait.
  // (etcd3/gRPC and the Kubernetes client are imported later still, after the VTEP forwards.)
  const { Weftd } = await import('../weftd.js');
  performance.mark('weftd-imported');
  const daemon = new Weftd(parsed.config, log, version());
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      log.info({ signal: sig }, 'stopping');
      daemon.stop();
    });
  }
  if (process.env.WEFTD_DEBUG_HOOKS === '1') {
    // Test hooks for the watchdog: SIGUSR2 ends the datapath worker thread, SIGUSR1 wedges it for 3 s.
    process.on('SIGUSR2', () => daemon.debugDatapath('terminate'));
    process.on('SIGUSR1', () => daemon.debugDatapath('stall'));
  }
  try {
    await daemon.run();
    return 0;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof NetConfError) {
      log.fatal(`invalid configuration: ${e.message}`);
      process.stderr.write(`weftd: ${e.message}\n`);
      return 2;
    }
    log.fatal({ err: e }, `weftd failed: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = await main();
await prestartSettled(); // see worker-prestart.ts: never exit while the worker loads its native addon
// Anything still holding the loop (a stuck etcd call) must not keep a stopped agent alive: the datapath
// is closed by now, so every moment here is part of a restart's gap for the node's pods. pino writes
// stdout synchronously; only the pretty transport of a terminal needs a moment to flush.
if (process.stdout.isTTY) setTimeout(() => process.exit(), 100).unref();
else process.exit();
