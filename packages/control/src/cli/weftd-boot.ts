/**
 * bin/weftd's first module: starts the datapath worker thread (worker-prestart.ts) before weftd loads
 * anything else, so the worker's boot runs beside weftd's own; then the CLI (weftd-main.ts). Not for
 * --help, --version or --cleanup, which never open a VTEP.
 */
import { prestartVtepWorker } from '@weft/datapath/worker-prestart';

if (!process.argv.slice(2).some((a) => /^--?(help|h|version|cleanup)(=|$)/.test(a))) prestartVtepWorker();
await import('./weftd-main.js');
